package stream

import (
	"net"
	"sync"
	"syscall"
	"time"
)

// hangups tells streams when their client hangs up, for every stream on one
// epoll set and one goroutine: a stream's connection is taken over from
// net/http, whose reader goroutine per connection would otherwise be what
// notices, at several KiB a stream.
type hangups struct {
	mu sync.Mutex
	// epfd is the epoll set, -1 while no goroutine watches it: the watcher
	// stops, and closes it, once it has had nothing to watch for a while,
	// so a server without streams holds neither a thread nor a descriptor.
	epfd int
	next int32
	// gone maps a watch's id (not its descriptor, which the kernel reuses
	// once closed) to the channel closed when its peer hangs up.
	gone map[int32]chan struct{}
}

func newHangups() *hangups { return &hangups{epfd: -1, gone: map[int32]chan struct{}{}} }

// canWatch says that this system has the hang-up watcher, without which the
// takeover would miss hang-ups.
const canWatch = true

// watch reports on the returned channel when conn's peer closes or resets
// it. stop must be called before conn is closed. A connection the watcher
// cannot watch (a listener's wrapper without a descriptor) gets a reader
// goroutine of its own instead, as net/http would give it.
func (h *hangups) watch(conn net.Conn) (gone <-chan struct{}, stop func()) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return readUntilGone(conn), func() {}
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return readUntilGone(conn), func() {}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.epfd < 0 {
		if h.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
			h.epfd = -1
			return readUntilGone(conn), func() {}
		}
		go h.run(h.epfd)
	}
	h.next++
	id, epfd, fd := h.next, h.epfd, -1
	err = raw.Control(func(f uintptr) {
		fd = int(f)
		ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR | epollOneShot, Fd: id}
		err = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
	})
	if err != nil {
		return readUntilGone(conn), func() {}
	}
	ch := make(chan struct{})
	h.gone[id] = ch
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.gone, id)
		if h.epfd == epfd {
			_ = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_DEL, fd, nil)
		}
	}
}

// epollOneShot is EPOLLONESHOT: a hang-up stays readable, and would wake the
// loop again and again until the stream removed it.
const epollOneShot = 1 << 30

// idleWait is how long the watcher waits with nothing to watch before it
// stops.
const idleWait = 5 * time.Second

func (h *hangups) run(epfd int) {
	evs := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(epfd, evs, int(idleWait/time.Millisecond))
		h.mu.Lock()
		if (err != nil && err != syscall.EINTR) || (n == 0 && len(h.gone) == 0) {
			h.epfd = -1
			h.mu.Unlock()
			_ = syscall.Close(epfd)
			return
		}
		for _, ev := range evs[:max(n, 0)] {
			if ch, ok := h.gone[ev.Fd]; ok {
				delete(h.gone, ev.Fd)
				close(ch)
			}
		}
		h.mu.Unlock()
	}
}

// readUntilGone reads conn until its peer hangs up (or it is closed), and
// then closes the returned channel. A client sends nothing on a stream, and
// what it does send is dropped.
func readUntilGone(conn net.Conn) <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		var b [64]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				return
			}
		}
	}()
	return gone
}
