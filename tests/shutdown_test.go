package tests

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// rawStream is an SSE connection read line by line on a bare socket: two
// thousand of them cost the test two thousand goroutines and no more.
type rawStream struct {
	opened, shutdownRetry bool
	gotMessage            atomic.Bool // read by the test while the stream runs
	ended                 time.Time
}

// openRaw opens path on addr and reads it until the server ends it. ready is
// signalled (and a slot of sem freed) once the stream's opening retry: line
// has arrived, or it failed.
func openRaw(addr, path, token string, s *rawStream, ready chan<- error, sem <-chan struct{}, done *sync.WaitGroup) {
	defer done.Done()
	var once sync.Once
	signal := func(err error) { once.Do(func() { <-sem; ready <- err }) }
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		signal(err)
		return
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n", path, addr, token)
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		signal(fmt.Errorf("stream: %q %v", status, err))
		return
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			s.ended = time.Now()
			signal(fmt.Errorf("stream ended before it opened: %v", err))
			return
		}
		switch line = strings.TrimRight(line, "\r\n"); {
		case strings.HasPrefix(line, "retry: ") && !s.opened:
			s.opened = true
			signal(nil)
		case line == "retry: 250":
			s.shutdownRetry = true
		case line == "event: message.created":
			s.gotMessage.Store(true)
		}
	}
}

// SIGTERM with thousands of open streams ends every one of them with a short
// retry: (so clients move to another node at once) and the process exits
// within its shutdown budget.
func TestShutdownUnderLoad(t *testing.T) {
	const streams, budget = 2000, 5 * time.Second
	c, n := startProcess(t, filepath.Join(t.TempDir(), "chat.db"), "CHAT_SHUTDOWN_TIMEOUT="+budget.String(),
		"CHAT_MAX_STREAMS_PER_USER=0", "CHAT_MAX_STREAMS_PER_IP=0")
	admin := c.Server(0).Token(t, "ops", true, time.Hour)
	room := "shutdown-room"
	if _, err := call(n.URL, admin, "POST", "/api/v1/rooms", map[string]string{"id": room, "name": "Shutdown"}, nil); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(n.URL, "http://")
	all := make([]rawStream, streams)
	ready := make(chan error, streams)
	var done sync.WaitGroup
	sem := make(chan struct{}, 64) // at most 64 opening at once, as a crowd arrives
	start := time.Now()
	for i := range all {
		done.Add(1)
		sem <- struct{}{}
		go openRaw(addr, "/api/v1/rooms/"+room+"/events", admin, &all[i], ready, sem, &done)
	}
	for i := 0; i < streams; i++ {
		select {
		case err := <-ready:
			if err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("only %d of %d streams opened within a minute", i, streams)
		}
	}
	opened := time.Since(start)
	if _, err := call(n.URL, admin, "POST", "/api/v1/rooms/"+room+"/messages", map[string]string{"content": "everyone there?"}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the message on every stream", func() bool {
		for i := range all {
			if !all[i].gotMessage.Load() {
				return false
			}
		}
		return true
	})

	sigterm := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.exited:
	case <-time.After(2 * budget):
		t.Fatalf("the server did not exit within twice its %s budget", budget)
	}
	exited := time.Since(sigterm)
	done.Wait()
	var last time.Duration
	retried := 0
	for i := range all {
		if all[i].shutdownRetry {
			retried++
		}
		last = max(last, all[i].ended.Sub(sigterm))
	}
	t.Logf("%d streams opened in %s; after SIGTERM every stream had ended in %s and the process exited in %s (budget %s), code %d",
		streams, opened.Round(time.Millisecond), last.Round(time.Millisecond), exited.Round(time.Millisecond), budget, n.cmd.ProcessState.ExitCode())
	if retried != streams {
		t.Errorf("%d of %d streams got retry: 250 before the end", retried, streams)
	}
	if exited > budget {
		t.Errorf("exit took %s, over the %s budget", exited, budget)
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}
