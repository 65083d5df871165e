package handlers

import (
	"net"
	"sync"
	"syscall"
)

// hangups tells streams when their client hangs up, for every stream on one
// epoll set and one goroutine: a stream's connection is taken over from
// net/http, whose reader goroutine per connection would otherwise be what
// notices, at several KiB a stream.
type hangups struct {
	once sync.Once
	epfd int
	err  error
	mu   sync.Mutex
	next int32
	// gone maps a watch's id (not its descriptor, which the kernel reuses
	// once closed) to the channel closed when its peer hangs up.
	gone map[int32]chan struct{}
}

func newHangups() *hangups { return &hangups{gone: map[int32]chan struct{}{}} }

// watch reports on the returned channel when conn's peer closes or resets
// it. stop must be called before conn is closed. Where watching is impossible
// the channel never fires: a stream then learns of the hang-up from a failed
// write (a heartbeat at the latest).
func (h *hangups) watch(conn net.Conn) (gone <-chan struct{}, stop func()) {
	h.once.Do(h.start)
	sc, ok := conn.(syscall.Conn)
	if h.err != nil || !ok {
		return nil, func() {}
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, func() {}
	}
	ch := make(chan struct{})
	h.mu.Lock()
	h.next++
	id := h.next
	h.gone[id] = ch
	h.mu.Unlock()
	var fd int
	err = raw.Control(func(f uintptr) {
		fd = int(f)
		ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR | epollOneShot, Fd: id}
		err = syscall.EpollCtl(h.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
	})
	if err != nil {
		h.forget(id)
		return nil, func() {}
	}
	return ch, func() {
		h.forget(id)
		_ = syscall.EpollCtl(h.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	}
}

// epollOneShot is EPOLLONESHOT: a hang-up stays readable, and would wake the
// loop again and again until the stream removed it.
const epollOneShot = 1 << 30

func (h *hangups) forget(id int32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.gone, id)
}

func (h *hangups) start() {
	h.epfd, h.err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if h.err != nil {
		return
	}
	go func() {
		evs := make([]syscall.EpollEvent, 128)
		for {
			n, err := syscall.EpollWait(h.epfd, evs, -1)
			if err != nil && err != syscall.EINTR {
				return
			}
			h.mu.Lock()
			for _, ev := range evs[:max(n, 0)] {
				if ch, ok := h.gone[ev.Fd]; ok {
					delete(h.gone, ev.Fd)
					close(ch)
				}
			}
			h.mu.Unlock()
		}
	}()
}
