package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resonate/resonate-chat/handlers/identity"
	"github.com/resonate/resonate-chat/tests/internal/spawn"
)

// client is one HTTP user of the server.
type client struct {
	url, user, token string
}

func (c *client) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+"/api/v1"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// stream is one held SSE connection; it checks that the seqs it sees are
// dense (every room event reaches every stream, in order).
type stream struct {
	c      *client
	room   string
	last   atomic.Int64
	cancel context.CancelFunc
	done   chan struct{}
}

// work is the soak's clients: owners, streams, and the running counters.
type work struct {
	url       string
	owners    []*client // one per room; they post
	rooms     []string
	mu        sync.Mutex
	streams   []*stream
	next      int // the next stream churn reopens
	sent      atomic.Int64
	sendErrs  atomic.Int64
	received  atomic.Int64
	bad       atomic.Int64
	reconnect atomic.Int64
}

func setUp(ctx context.Context, srv *spawn.Server, o options) (*work, error) {
	signer := identity.NewHS256([]byte(srv.Secret))
	mk := func(user string) *client {
		tok, _ := signer.Sign(user, user, false, 48*time.Hour)
		return &client{url: srv.URL, user: user, token: tok}
	}
	w := &work{url: srv.URL}
	for i := 0; i < o.rooms; i++ {
		owner := mk(fmt.Sprintf("owner-%d", i))
		room := fmt.Sprintf("soak-%d", i)
		if err := owner.do(ctx, "POST", "/rooms", map[string]string{"id": room, "name": room}, nil); err != nil {
			return nil, err
		}
		w.owners, w.rooms = append(w.owners, owner), append(w.rooms, room)
	}
	for i := 0; i < o.streams; i++ {
		c, room := mk(fmt.Sprintf("listener-%d", i)), w.rooms[i%o.rooms]
		if err := c.do(ctx, "POST", "/rooms/"+room+"/participants", nil, nil); err != nil {
			return nil, err
		}
		var page struct {
			HeadSeq int64 `json:"head_seq"`
		}
		if err := c.do(ctx, "GET", "/rooms/"+room+"/messages?limit=1", nil, &page); err != nil {
			return nil, err
		}
		st := &stream{c: c, room: room}
		st.last.Store(page.HeadSeq)
		if err := w.open(st); err != nil {
			return nil, err
		}
		w.streams = append(w.streams, st)
	}
	return w, nil
}

// open connects st from its last seen seq and reads it in a goroutine.
func (w *work) open(st *stream) error {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", w.url+"/api/v1/rooms/"+st.room+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+st.c.token)
	req.Header.Set("Last-Event-ID", strconv.FormatInt(st.last.Load(), 10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return fmt.Errorf("stream %s: %d %s", st.c.user, resp.StatusCode, b)
	}
	st.cancel, st.done = cancel, make(chan struct{})
	go func() {
		defer close(st.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			v, ok := strings.CutPrefix(sc.Text(), "id: ")
			if !ok {
				continue
			}
			seq, _ := strconv.ParseInt(v, 10, 64)
			if prev := st.last.Swap(seq); seq != prev+1 {
				w.bad.Add(1)
			}
			w.received.Add(1)
		}
	}()
	return nil
}

// churn closes n streams and reopens each from where it stopped.
func (w *work) churn(ctx context.Context, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := 0; i < n && len(w.streams) > 0; i++ {
		st := w.streams[w.next%len(w.streams)]
		w.next++
		st.cancel()
		<-st.done
		if err := w.open(st); err != nil {
			w.bad.Add(1)
			continue
		}
		w.reconnect.Add(1)
	}
}

// post sends rate messages a second, round-robin over the rooms, until ctx
// ends.
func (w *work) post(ctx context.Context, rate float64, size int) {
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	pad := strings.Repeat("x", max(size-32, 1))
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		o := w.owners[i%len(w.owners)]
		body := map[string]string{"content": fmt.Sprintf("%d %s", i, pad), "client_id": "soak-" + strconv.Itoa(i)}
		go func() {
			if err := o.do(ctx, "POST", "/rooms/"+w.rooms[i%len(w.rooms)]+"/messages", body, nil); err != nil {
				if ctx.Err() == nil { // a post cut short by the end of the run is no error
					w.sendErrs.Add(1)
				}
				return
			}
			w.sent.Add(1)
		}()
	}
}

func (w *work) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range w.streams {
		st.cancel()
	}
}

func (w *work) anomalies() int64 { return w.bad.Load() }

// behind counts the streams whose last seq is not their room's head: an
// event they never got (a gap at the end, which no later event can reveal).
func (w *work) behind(ctx context.Context) int {
	heads := map[string]int64{}
	for i, room := range w.rooms {
		var page struct {
			HeadSeq int64 `json:"head_seq"`
		}
		if err := w.owners[i].do(ctx, "GET", "/rooms/"+room+"/messages?limit=1", nil, &page); err != nil {
			return -1
		}
		heads[room] = page.HeadSeq
	}
	n := 0
	for _, st := range w.streams {
		if st.last.Load() != heads[st.room] {
			n++
		}
	}
	return n
}

// row is one interval's figures.
type row struct {
	at                          time.Duration
	heapMB, rssMB               float64
	goroutines, fds, openStream int
	walKB                       int64
	sent, sendErrs, received    int64
	reconnects, anomalies       int64
}

func (w *work) sample(srv *spawn.Server, at time.Duration) row {
	m := metrics(srv, "go_memstats_heap_alloc_bytes", "go_goroutines", "process_open_fds", "chat_open_streams")
	return row{at: at, heapMB: m["go_memstats_heap_alloc_bytes"] / (1 << 20), rssMB: float64(spawn.ProcStatus(srv.PID, "VmRSS")) / 1024,
		goroutines: int(m["go_goroutines"]), fds: int(m["process_open_fds"]), openStream: int(m["chat_open_streams"]),
		walKB: walBytes(srv) >> 10, sent: w.sent.Load(), sendErrs: w.sendErrs.Load(), received: w.received.Load(),
		reconnects: w.reconnect.Load(), anomalies: w.bad.Load()}
}

func printHeader() {
	fmt.Printf("%8s %8s %8s %10s %6s %7s %8s %8s %8s %11s %10s %9s\n",
		"elapsed", "heap_MB", "rss_MB", "goroutines", "fds", "streams", "wal_KB", "sent", "send_err", "received", "reconnects", "anomalies")
}

func (r row) print() {
	fmt.Printf("%8s %8.1f %8.1f %10d %6d %7d %8d %8d %8d %11d %10d %9d\n", r.at.Round(time.Second), r.heapMB, r.rssMB,
		r.goroutines, r.fds, r.openStream, r.walKB, r.sent, r.sendErrs, r.received, r.reconnects, r.anomalies)
}
