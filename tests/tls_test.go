package tests

// HTTPS and HTTP/2 served by the server itself (CHAT_TLS_CERT, CHAT_TLS_KEY):
// a browser caps HTTP/1.1 at six connections a site, so a seventh tab's
// stream would wait forever; over HTTP/2 every stream shares one connection.

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// sseLines opens a stream with client and sends its lines to the returned
// channel until the stream ends or ctx is cancelled.
func sseLines(t *testing.T, ctx context.Context, client *http.Client, url, token string) (*http.Response, <-chan string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return resp, lines
}

// awaitLine reads lines until one starts with prefix.
func awaitLine(t *testing.T, lines <-chan string, prefix string) string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended before a line starting %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("no line starting %q within 5s", prefix)
		}
	}
}

// With CHAT_TLS_CERT and CHAT_TLS_KEY the server speaks HTTPS and HTTP/2:
// twelve streams (twice a browser's HTTP/1.1 cap) share one connection from
// Go's client and each reads the room's events; a stream whose client
// cancels it frees its slot at once; an HTTP/1.1 client over TLS streams too.
func TestTLSStreamsShareOneHTTP2Connection(t *testing.T) {
	t.Parallel()
	const streams = 12
	dir := t.TempDir()
	pool, certFile, keyFile := testCertificate(t, dir)
	c, n := startProcess(t, filepath.Join(dir, "chat.db"), "CHAT_TLS_CERT="+certFile, "CHAT_TLS_KEY="+keyFile)
	base := "https" + strings.TrimPrefix(n.URL, "http")
	var dials atomic.Int32
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		}}}
	admin := c.Server(0).Token(t, "ops", true, time.Hour)
	room := "tls-room"
	if status, err := call(n.URL, admin, "GET", "/healthz", nil, nil); err == nil {
		t.Fatalf("plain HTTP to the TLS listener: got %d, want a refusal", status)
	}
	postTLS(t, h2, base, admin, "/api/v1/rooms", `{"id":"`+room+`","name":"TLS"}`, http.StatusCreated)
	users := make([]string, streams)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := make([]<-chan string, streams)
	cancels := make([]context.CancelFunc, streams)
	for i := range streams {
		users[i] = c.Server(0).Token(t, fmt.Sprintf("user%d", i), true, time.Hour)
		sctx, scancel := context.WithCancel(ctx)
		cancels[i] = scancel
		resp, lines := sseLines(t, sctx, h2, base+"/api/v1/rooms/"+room+"/events", users[i])
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
			t.Fatalf("stream %d: got %d over HTTP/%d, want 200 over HTTP/2", i, resp.StatusCode, resp.ProtoMajor)
		}
		awaitLine(t, lines, "retry: ")
		open[i] = lines
	}
	postTLS(t, h2, base, admin, "/api/v1/rooms/"+room+"/messages", `{"content":"to every tab"}`, http.StatusCreated)
	for i, lines := range open {
		if l := awaitLine(t, lines, "event: "); l != "event: message.created" {
			t.Fatalf("stream %d: got %q, want event: message.created", i, l)
		}
	}
	if got := dials.Load(); got != 1 {
		t.Errorf("%d streams and two posts dialled %d connections, want 1", streams, got)
	}
	if got := tlsOpenStreams(t, h2, base); got != streams {
		t.Fatalf("chat_open_streams: got %v, want %d", got, streams)
	}
	cancels[0]() // the HTTP/2 stream is reset; the connection stays
	waitFor(t, 5*time.Second, "the cancelled stream's slot to be freed", func() bool { return tlsOpenStreams(t, h2, base) == streams-1 })

	// HTTP/1.1 over TLS: net/http's response, as for HTTP/2.
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	resp, lines := sseLines(t, ctx, h1, base+"/api/v1/rooms/"+room+"/events", users[0])
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 || resp.TLS == nil {
		t.Fatalf("HTTP/1.1 stream: got %d over HTTP/%d (TLS %v), want 200 over HTTP/1.1 with TLS", resp.StatusCode, resp.ProtoMajor, resp.TLS != nil)
	}
	awaitLine(t, lines, "retry: ")
	postTLS(t, h2, base, admin, "/api/v1/rooms/"+room+"/messages", `{"content":"and to HTTP/1.1"}`, http.StatusCreated)
	if l := awaitLine(t, lines, "event: "); l != "event: message.created" {
		t.Fatalf("HTTP/1.1 stream: got %q, want event: message.created", l)
	}
}

// postTLS posts a JSON body and fails the test unless the status is want.
func postTLS(t *testing.T, client *http.Client, base, token, path, body string, want int) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("POST %s: got %d, want %d", path, resp.StatusCode, want)
	}
}

// tlsOpenStreams reads chat_open_streams from /metrics.
func tlsOpenStreams(t *testing.T, client *http.Client, base string) int {
	t.Helper()
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var v float64
		if _, err := fmt.Sscanf(sc.Text(), "chat_open_streams %g", &v); err == nil {
			return int(v)
		}
	}
	t.Fatal("no chat_open_streams in /metrics")
	return 0
}
