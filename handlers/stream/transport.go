package stream

import (
	"errors"
	"net"
	"net/http"
	"time"
)

// transport carries one stream's bytes to its client.
type transport interface {
	// write sends b whole within the write timeout, or fails: a client that
	// does not read is cut off.
	write(b []byte) error
	// gone is closed when the client hangs up.
	gone() <-chan struct{}
	// close ends the response; the stream writes no more.
	close()
}

// connect answers 200 with the stream's headers on the transport that suits
// r: the connection taken over where that is safe (plain HTTP/1.1 on a system
// with the hang-up watcher), net/http's response everywhere else.
func (s *Streams) connect(w http.ResponseWriter, r *http.Request) (transport, error) {
	timeout := s.d.Options.WriteTimeout
	if s.d.Options.Transport != Standard && canWatch && r.ProtoMajor == 1 && r.TLS == nil {
		// A writer that cannot be taken over (a wrapper that hides it)
		// gets the standard transport.
		if out, err := s.takeOver(w, timeout); !errors.Is(err, http.ErrNotSupported) {
			return out, err
		}
	}
	h := w.Header()
	setHeaders(h)
	w.WriteHeader(http.StatusOK)
	out := &standard{w: w, rc: http.NewResponseController(unwrap(w)), timeout: timeout, done: r.Context().Done()}
	return out, nil
}

// setHeaders sets the headers of every stream.
func setHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-store") // no-cache for proxies that know SSE, no-store as every authenticated answer
	h.Set("X-Accel-Buffering", "no")             // nginx: pass each event on at once
}

// standard is the portable transport: net/http's response, over HTTP/1.1 or
// HTTP/2, plain or TLS. net/http cancels the request's context when the
// connection (or the HTTP/2 stream) goes away, which is the hang-up.
type standard struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	done    <-chan struct{}
}

func (t *standard) write(b []byte) error {
	if err := t.rc.SetWriteDeadline(time.Now().Add(t.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := t.w.Write(b); err != nil {
		return err
	}
	return t.rc.Flush()
}

func (t *standard) gone() <-chan struct{} { return t.done }

// close leaves the rest to net/http, which ends the response when the
// handler returns.
func (t *standard) close() {}

// unwrap returns the http.ResponseWriter under w's wrappers (gin's), whose
// Flush reports errors: a wrapper's Flush that swallows them would hide a
// write timeout until the next write.
func unwrap(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

// takenOver is the fast transport: the connection taken from net/http, with
// the response head written on it. The stream then needs neither net/http's
// reader goroutine per connection nor its buffers; the hang-up watcher does
// the reader's job for every stream at once.
type takenOver struct {
	conn    net.Conn
	timeout time.Duration
	hangup  <-chan struct{}
	unwatch func()
}

// takeOver takes the connection over and writes the response head: the
// headers the middleware set and the stream's own. The body is the rest of
// the connection.
func (s *Streams) takeOver(w http.ResponseWriter, timeout time.Duration) (transport, error) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	hd := w.Header().Clone()
	setHeaders(hd)
	hd.Set("Connection", "close") // the body ends with the connection
	hd.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	bw := rw.Writer
	_, _ = bw.WriteString("HTTP/1.1 200 OK\r\n")
	_ = hd.Write(bw)
	_, _ = bw.WriteString("\r\n")
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if err := bw.Flush(); err != nil {
		conn.Close()
		return nil, errGoneAtOpen
	}
	t := &takenOver{conn: conn, timeout: timeout}
	t.hangup, t.unwatch = s.hangups.watch(conn)
	return t, nil
}

// errGoneAtOpen is a client that went away before the response head reached
// it.
var errGoneAtOpen = errors.New("client gone before the stream opened")

func (t *takenOver) write(b []byte) error {
	if err := t.conn.SetWriteDeadline(time.Now().Add(t.timeout)); err != nil {
		return err
	}
	_, err := t.conn.Write(b)
	return err
}

func (t *takenOver) gone() <-chan struct{} { return t.hangup }

func (t *takenOver) close() {
	t.unwatch()
	_ = t.conn.Close()
}
