// Package tests holds the end-to-end tests: each starts the real server (the
// router main builds, a real SQLite file, the real hub) on a real port and
// talks to it over HTTP and SSE the way clients do.
package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers"
	"github.com/resonate/resonate-chat/handlers/identity"
	"github.com/resonate/resonate-chat/handlers/livekit"
	"github.com/resonate/resonate-chat/handlers/stream"
	"github.com/resonate/resonate-chat/handlers/webhook"
	"github.com/resonate/resonate-chat/models"
	"github.com/resonate/resonate-chat/server"
)

// TestMain sets gin's process-wide mode as main does (libraryGlobals), so
// that building the router prints no routes.
func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// Options shape a test server.
type Options struct {
	DB           string // SQLite path or postgres URL; default a file in t.TempDir()
	HistoryLimit int
	MaxLength    int
	SendRate     models.Rate // zero: no flood limit, so tests can post fast
	ReactionRate models.Rate // zero: no reaction flood limit
	Heartbeat    time.Duration
	Queue        int // per-subscriber queue; 0 for the default
	WriteTimeout time.Duration
	// Verifiers are tried after the HS256 one, as main chains JWKS and
	// Appwrite; none by default.
	Verifiers []identity.Verifier
	// LiveKit enables the LiveKit webhook; off by default.
	LiveKit livekit.Config
	// Dev serves POST /dev/token, as --dev does; off by default.
	Dev bool
	// Limits bound streams and unauthenticated requests per client; none
	// by default.
	Limits handlers.Limits
	// TicketTTL replaces the stream tickets' 60 s life; 0 keeps it.
	TicketTTL time.Duration
	// Webhook, when its URL is set, sends notifications there;
	// WebhookNoContent leaves message text out.
	Webhook          webhook.Options
	WebhookNoContent bool
}

// streamTransport is the transport of every test server's streams and of
// every server process: CHAT_TEST_STREAM_TRANSPORT=standard forces net/http's
// response, so that .ci/run can run the stream tests on both transports.
func streamTransport() stream.Transport {
	if os.Getenv("CHAT_TEST_STREAM_TRANSPORT") == string(stream.Standard) {
		return stream.Standard
	}
	return stream.Auto
}

// Server is a running test server.
type Server struct {
	URL    string
	Secret []byte
	Logs   *syncBuffer
	DB     string
	http   *httptest.Server
	srv    *server.Server
	store  *models.Store
	closed bool
	// client sends the requests of Client and OpenStream; nil for
	// http.DefaultClient. See Via.
	client *http.Client
}

// Via returns a view of s whose clients reach it at url with hc, such as
// through a reverse proxy: tokens, logs and the server are s's, and closing
// stays s's job.
func (s *Server) Via(url string, hc *http.Client) *Server {
	v := *s
	v.URL, v.client, v.closed = url, hc, true
	return &v
}

func (s *Server) httpClient() *http.Client {
	if s.client != nil {
		return s.client
	}
	return http.DefaultClient
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartServer starts a server built by the constructor main uses.
func StartServer(t testing.TB, o Options) *Server {
	t.Helper()
	if o.DB == "" {
		o.DB = filepath.Join(t.TempDir(), "chat.db")
	}
	if o.HistoryLimit == 0 {
		o.HistoryLimit = 100
	}
	if o.MaxLength == 0 {
		o.MaxLength = 2000
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	secret = []byte(hex.EncodeToString(secret))
	s := &Server{Secret: secret, Logs: &syncBuffer{}, DB: o.DB}
	s.start(t, o)
	t.Cleanup(s.Close)
	return s
}

func (s *Server) start(t testing.TB, o Options) {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var ln net.Listener
	if s.URL != "" { // a restart: the same address, so clients reconnect as they would to a redeploy
		ln = listenAgain(t, strings.TrimPrefix(s.URL, "http://"))
	}
	srv, err := server.New(context.Background(), server.Config{DB: o.DB, Secret: s.Secret, TicketTTL: o.TicketTTL,
		Verifiers: o.Verifiers, Queue: o.Queue,
		Chat:    models.Options{HistoryLimit: o.HistoryLimit, MaxMessageLength: o.MaxLength, SendRate: o.SendRate, ReactionRate: o.ReactionRate},
		Stream:  stream.Options{Heartbeat: o.Heartbeat, WriteTimeout: o.WriteTimeout, Transport: streamTransport()},
		LiveKit: o.LiveKit, Dev: o.Dev, Limits: o.Limits, Webhook: o.Webhook, WebhookNoContent: o.WebhookNoContent, Log: log})
	if err != nil {
		t.Fatalf("build server: %v", err)
	}
	hs := httptest.NewUnstartedServer(srv)
	if ln != nil {
		hs.Listener.Close()
		hs.Listener = ln
	}
	hs.Config.RegisterOnShutdown(srv.StopStreams)
	hs.Start()
	s.http, s.srv, s.store, s.URL, s.closed = hs, srv, srv.Store, hs.URL, false
}

// Close stops the server: streams end, then the store closes.
func (s *Server) Close() {
	if s.closed {
		return
	}
	s.closed = true
	s.srv.StopStreams()
	s.http.Close()
	s.srv.Close()
}

// Restart stops the server and starts a new one on the same database and the
// same address, as a redeploy would: the URL stays.
func (s *Server) Restart(t testing.TB, o Options) {
	t.Helper()
	s.Close()
	o.DB = s.DB
	if o.HistoryLimit == 0 {
		o.HistoryLimit = 100
	}
	if o.MaxLength == 0 {
		o.MaxLength = 2000
	}
	s.start(t, o)
}

// listenAgain listens on addr, which a server just closed; it retries for a
// moment in case the old socket is still being torn down.
func listenAgain(t testing.TB, addr string) net.Listener {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen on %s again: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Token signs a token for user with the server's secret.
func (s *Server) Token(t testing.TB, user string, admin bool, ttl time.Duration) string {
	t.Helper()
	tok, err := identity.NewHS256(s.Secret).Sign(user, strings.ToUpper(user[:1])+user[1:], admin, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Client is a user talking to a server.
type Client struct {
	t     testing.TB
	s     *Server
	User  string
	Token string
}

// Client returns a client for user with a day-long token.
func (s *Server) Client(t testing.TB, user string) *Client {
	return &Client{t: t, s: s, User: user, Token: s.Token(t, user, false, 24*time.Hour)}
}

// Admin returns a platform admin client.
func (s *Server) Admin(t testing.TB, user string) *Client {
	return &Client{t: t, s: s, User: user, Token: s.Token(t, user, true, 24*time.Hour)}
}

// Response is an HTTP answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it cannot.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Problem decodes a problem document.
func (r *Response) Problem(t testing.TB) api.Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != api.ProblemContentType {
		t.Fatalf("Content-Type = %q, want %q (status %d, body %s)", ct, api.ProblemContentType, r.Status, r.Body)
	}
	var p api.Problem
	r.JSON(t, &p)
	return p
}

// Do sends a request. body is sent as is when it is a string or []byte, as
// JSON otherwise, and not at all when nil; JSON bodies get the JSON type.
func (c *Client) Do(method, path string, body any, headers ...string) *Response {
	c.t.Helper()
	var rd io.Reader
	var raw bool
	switch b := body.(type) {
	case nil:
	case string:
		rd, raw = strings.NewReader(b), true
	case []byte:
		rd, raw = bytes.NewReader(b), true
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.s.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	_ = raw
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := c.s.httpClient().Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	checkSpec(c.t, req, resp.StatusCode, resp.Header, b, false) // the spec cannot lie: see speccheck_test.go
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Must is Do that fails the test unless the status is want.
func (c *Client) Must(want int, method, path string, body any, out any) *Response {
	c.t.Helper()
	r := c.Do(method, path, body)
	if r.Status != want {
		c.t.Fatalf("%s %s as %s: status %d, want %d: %s", method, path, c.User, r.Status, want, r.Body)
	}
	if out != nil {
		r.JSON(c.t, out)
	}
	return r
}

// CreateRoom creates a room owned by c.
func (c *Client) CreateRoom(id string) api.Room {
	c.t.Helper()
	var room api.Room
	c.Must(http.StatusCreated, "POST", "/api/v1/rooms", map[string]string{"id": id, "name": "Room " + id}, &room)
	return room
}

// Join joins the room.
func (c *Client) Join(room string) {
	c.t.Helper()
	r := c.Do("POST", "/api/v1/rooms/"+room+"/participants", nil)
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		c.t.Fatalf("join %s as %s: %d %s", room, c.User, r.Status, r.Body)
	}
}

// Send posts a message and returns it.
func (c *Client) Send(room, content string) api.RoomMessage {
	c.t.Helper()
	var m api.RoomMessage
	c.Must(http.StatusCreated, "POST", "/api/v1/rooms/"+room+"/messages", map[string]string{"content": content}, &m)
	return m
}

// History reads a page of history with the given query string.
func (c *Client) History(room, query string) api.HistoryPage {
	c.t.Helper()
	var p api.HistoryPage
	c.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/messages"+query, nil, &p)
	return p
}

// Event is one SSE event as a client parses it.
type Event struct {
	ID    string // "" when the frame had no id line
	Type  string
	Data  string
	Retry string
}

// Envelope decodes the event's data.
func (e Event) Envelope(t testing.TB) api.Envelope {
	t.Helper()
	var env api.Envelope
	if err := json.Unmarshal([]byte(e.Data), &env); err != nil {
		t.Fatalf("event %s data %q: %v", e.Type, e.Data, err)
	}
	return env
}

// Stream is an open SSE connection read by a goroutine.
type Stream struct {
	t        testing.TB
	Status   int
	Proto    int // the response's HTTP major version
	Header   http.Header
	Problem  *api.Problem
	events   chan Event
	comments chan string
	done     chan struct{}
	err      error
	cancel   context.CancelFunc
	body     io.ReadCloser
}

// Stream opens the room's stream with the Authorization header; extra is
// alternating header names and values, or "?"+query to append to the URL.
func (c *Client) Stream(room string, extra ...string) *Stream {
	c.t.Helper()
	return c.s.OpenStream(c.t, "/api/v1/rooms/"+room+"/events", c.Token, extra...)
}

// OpenStream opens an SSE stream at path.
func (s *Server) OpenStream(t testing.TB, path, token string, extra ...string) *Stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	q := ""
	var hdr []string
	for i := 0; i < len(extra); i++ {
		if strings.HasPrefix(extra[i], "?") {
			q = extra[i]
			continue
		}
		if i+1 < len(extra) {
			hdr = append(hdr, extra[i], extra[i+1])
			i++
		}
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+path+q, nil)
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open stream %s: %v", path, err)
	}
	st := &Stream{t: t, Status: resp.StatusCode, Proto: resp.ProtoMajor, Header: resp.Header, events: make(chan Event, 10000),
		comments: make(chan string, 100), done: make(chan struct{}), cancel: cancel, body: resp.Body}
	t.Cleanup(st.Close)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkSpec(t, req, resp.StatusCode, resp.Header, b, false) // the spec cannot lie: see speccheck_test.go
		var p api.Problem
		if json.Unmarshal(b, &p) == nil {
			st.Problem = &p
		}
		close(st.done)
		return st
	}
	checkSpec(t, req, resp.StatusCode, resp.Header, nil, true) // a stream: status and headers only
	go st.read()
	return st
}

// read parses the stream per the SSE specification.
func (st *Stream) read() {
	defer close(st.done)
	sc := bufio.NewScanner(st.body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var ev Event
	var data []string
	has := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if has {
				ev.Data = strings.Join(data, "\n")
				st.events <- ev
			}
			ev, data, has = Event{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			select {
			case st.comments <- strings.TrimSpace(line[1:]):
			default:
			}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID, has = value, true
		case "event":
			ev.Type, has = value, true
		case "data":
			data, has = append(data, value), true
		case "retry":
			ev.Retry = value
			if !has {
				st.events <- Event{Retry: value}
				ev = Event{}
			}
		}
	}
	st.err = sc.Err()
}

// Next returns the next event, failing the test after timeout.
func (st *Stream) Next(timeout time.Duration) Event {
	st.t.Helper()
	select {
	case ev := <-st.events:
		return ev
	case <-time.After(timeout):
		st.t.Fatalf("no event within %s", timeout)
	}
	return Event{}
}

// NextRoomEvent skips retry-only frames and returns the next event.
func (st *Stream) NextRoomEvent(timeout time.Duration) Event {
	st.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case ev := <-st.events:
			if ev.Type == "" && ev.Data == "" {
				continue
			}
			return ev
		case <-time.After(time.Until(deadline)):
			st.t.Fatalf("no event within %s", timeout)
			return Event{}
		}
	}
}

// Collect reads room events until n have arrived or timeout passes.
func (st *Stream) Collect(n int, timeout time.Duration) []Event {
	st.t.Helper()
	var out []Event
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case ev := <-st.events:
			if ev.Type != "" {
				out = append(out, ev)
			}
		case <-deadline:
			st.t.Fatalf("got %d events within %s, want %d: %v", len(out), timeout, n, out)
		}
	}
	return out
}

// Ended waits until the server ends the stream.
func (st *Stream) Ended(timeout time.Duration) bool {
	select {
	case <-st.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Drain returns every event received so far without waiting.
func (st *Stream) Drain() []Event {
	var out []Event
	for {
		select {
		case ev := <-st.events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// Comments returns the channel of comment lines.
func (st *Stream) Comments() <-chan string { return st.comments }

// Close closes the connection.
func (st *Stream) Close() {
	st.cancel()
	if st.body != nil {
		st.body.Close()
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// uniqueRoom returns a room id unique to the test.
func uniqueRoom(t testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("%s-%s", name, hex.EncodeToString(b))
}

// postgresURL is the PostgreSQL server tests use (CHAT_TEST_POSTGRES); .ci/run
// sets it and fails when it is unreachable.
func postgresURL(t testing.TB) string {
	u := os.Getenv("CHAT_TEST_POSTGRES")
	if u == "" {
		t.Skip("CHAT_TEST_POSTGRES is not set")
	}
	return u
}
