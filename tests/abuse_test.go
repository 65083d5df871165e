package tests

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/handlers"
	"github.com/resonate/resonate-chat/handlers/identity"
	"github.com/resonate/resonate-chat/models"
)

// wantRateLimited checks a 429 is the contract's: rate_limited with a
// Retry-After of at least a second.
func wantRateLimited(t *testing.T, status int, header http.Header, problemCode string) {
	t.Helper()
	if status != http.StatusTooManyRequests || problemCode != "rate_limited" {
		t.Fatalf("got %d %q, want 429 rate_limited", status, problemCode)
	}
	if ra, err := strconv.Atoi(header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q on a 429", header.Get("Retry-After"))
	}
}

func streamCode(st *Stream) string {
	if st.Problem == nil {
		return ""
	}
	return st.Problem.Code
}

// A user may hold a bounded number of streams; the next one is a 429 until
// one closes.
func TestAbuseStreamsPerUser(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{Limits: handlers.Limits{StreamsPerUser: 2}})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	a1, _ := bob.Stream(room), bob.Stream(room)
	third := bob.Stream(room)
	wantRateLimited(t, third.Status, third.Header, streamCode(third))
	if st := alice.Stream(room); st.Status != http.StatusOK {
		t.Fatalf("another user's stream: %d, want 200", st.Status)
	}
	a1.Close()
	waitFor(t, 5*time.Second, "the closed stream's slot", func() bool {
		st := bob.Stream(room)
		defer st.Close()
		return st.Status == http.StatusOK
	})
}

// Streams from one address are bounded too, and a client cannot dodge the
// bound with an X-Forwarded-For of its own: no proxy is trusted by default.
func TestAbuseStreamsPerIP(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{Limits: handlers.Limits{StreamsPerIP: 3}})
	owner := s.Client(t, "owner")
	room := coreRoom(t, owner)
	for i := 0; i < 3; i++ {
		c := s.Client(t, fmt.Sprintf("user%d", i))
		c.Join(room)
		if st := c.Stream(room); st.Status != http.StatusOK {
			t.Fatalf("stream %d: %d", i, st.Status)
		}
	}
	eve := s.Client(t, "eve")
	eve.Join(room)
	for _, hdr := range [][]string{nil, {"X-Forwarded-For", "203.0.113.9"}, {"X-Real-IP", "203.0.113.10"}, {"Forwarded", "for=203.0.113.11"}} {
		st := eve.Stream(room, hdr...)
		wantRateLimited(t, st.Status, st.Header, streamCode(st))
	}
}

// With a trusted proxy configured, its X-Forwarded-For names the client: two
// clients behind it count apart, one client's streams count together.
func TestAbuseTrustedProxy(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{Limits: handlers.Limits{StreamsPerIP: 1, TrustedProxies: []string{"127.0.0.1/32", "::1"}}})
	owner := s.Client(t, "owner")
	room := coreRoom(t, owner)
	a, b := s.Client(t, "a"), s.Client(t, "b")
	a.Join(room)
	b.Join(room)
	if st := a.Stream(room, "X-Forwarded-For", "198.51.100.1"); st.Status != http.StatusOK {
		t.Fatalf("first client: %d", st.Status)
	}
	if st := b.Stream(room, "X-Forwarded-For", "198.51.100.2"); st.Status != http.StatusOK {
		t.Fatalf("second client: %d", st.Status)
	}
	st := b.Stream(room, "X-Forwarded-For", "198.51.100.1")
	wantRateLimited(t, st.Status, st.Header, streamCode(st))
	// IPv6 clients count by their /64.
	if st := a.Stream(room, "X-Forwarded-For", "2001:db8:1:2::1"); st.Status != http.StatusOK {
		t.Fatalf("IPv6 client: %d", st.Status)
	}
	st = b.Stream(room, "X-Forwarded-For", "2001:db8:1:2:ffff::7")
	wantRateLimited(t, st.Status, st.Header, streamCode(st))
}

// The node's total of streams is capped.
func TestAbuseStreamsTotal(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{Limits: handlers.Limits{StreamsTotal: 2}})
	a, b, c := s.Client(t, "a"), s.Client(t, "b"), s.Client(t, "c")
	room := coreRoom(t, a, b, c)
	a.Stream(room)
	b.Stream(room)
	st := c.Stream(room)
	wantRateLimited(t, st.Status, st.Header, streamCode(st))
	if got := coreMetric(t, s, "chat_open_streams"); got != 2 {
		t.Fatalf("chat_open_streams %v, want 2", got)
	}
}

// TestAbuseFailedAuthLocksOutNoValidToken: one address sending bad tokens
// (users behind one NAT, one of them with a broken client) never loses a
// valid token. What it loses, past its budget, is making the server ask an
// identity provider about tokens that keep failing.
func TestAbuseFailedAuthLocksOutNoValidToken(t *testing.T) {
	t.Parallel()
	aw := newAppwrite(t)
	k := newECKey(t, "k1")
	provider := newIDP(t, k)
	s := StartServer(t, Options{Verifiers: []identity.Verifier{startJWKS(t, provider), newAppwriteVerifier(aw)},
		Limits: handlers.Limits{AuthFailures: models.Rate{Count: 5, Per: time.Minute}, TrustedProxies: []string{"127.0.0.1/32", "::1"}}})
	anon := s.as(t, "anon", "")
	waitFor(t, 5*time.Second, "/readyz", func() bool { return anon.Do("GET", "/readyz", nil).Status == http.StatusOK })
	alice := s.Client(t, "alice")
	room := coreRoom(t, alice)
	path := "/api/v1/rooms/" + room
	from := func(c *Client, ip string) *Response { return c.Do("GET", path, nil, "X-Forwarded-For", ip) }
	const nat = "192.0.2.66"

	// A broken client: garbage and expired tokens, which cost nothing to refuse.
	bad, expired := s.as(t, "broken", "bad"), s.as(t, "broken", s.Token(t, "broken", false, -time.Hour))
	for range 60 {
		coreProblem(t, from(bad, nat), http.StatusUnauthorized, "unauthorized")
	}
	coreProblem(t, from(expired, nat), http.StatusUnauthorized, "unauthorized")
	if r := from(alice, nat); r.Status != http.StatusOK {
		t.Fatalf("a valid token from an address that sent 61 bad ones: got %d %s, want 200", r.Status, r.Body)
	}

	// Forged Appwrite JWTs cost a call each, up to the address's budget…
	calls, fetches := aw.calls.Load(), provider.fetches.Load()
	forged := func(i int) *Client {
		return s.as(t, "eve", aw.jwt(t, fmt.Sprintf("65f1evil%d", i), "Eve", 15*time.Minute, true))
	}
	for i := range 5 {
		coreProblem(t, from(forged(i), nat), http.StatusUnauthorized, "unauthorized")
	}
	if got := aw.calls.Load() - calls; got != 5 {
		t.Fatalf("5 forged Appwrite JWTs made %d calls to Appwrite, want 5", got)
	}
	// …then nothing: a 429 without a call, for an unknown OIDC kid too.
	r := from(forged(5), nat)
	wantRateLimited(t, r.Status, r.Header, r.Problem(t).Code)
	if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra > 12 {
		t.Fatalf("Retry-After %d, want at most the 12 s one failure takes to earn back", ra)
	}
	r = from(s.as(t, "eve", newECKey(t, "unknown").token(t, "eve", "Eve", time.Hour)), nat)
	wantRateLimited(t, r.Status, r.Header, r.Problem(t).Code)
	if c, f := aw.calls.Load()-calls, provider.fetches.Load()-fetches; c != 5 || f != 0 {
		t.Fatalf("past the budget: %d Appwrite calls and %d JWKS fetches in all, want 5 and 0", c, f)
	}

	// Valid tokens from the address are still checked and accepted: the
	// server's own, one signed with a known OIDC key, and an Appwrite JWT
	// whose answer is cached.
	bob := s.as(t, "65f1bob", aw.jwt(t, "65f1bob", "Bob", 15*time.Minute, false))
	carol := s.as(t, "oidc-carol", k.token(t, "oidc-carol", "Carol", time.Hour))
	bob.Join(room)
	carol.Join(room)
	for _, c := range []*Client{alice, bob, carol} {
		if r := from(c, nat); r.Status != http.StatusOK {
			t.Errorf("%s's valid token from the address past its budget: got %d %s, want 200", c.User, r.Status, r.Body)
		}
	}
	tk := coreTicket(t, alice, room)
	if st := s.OpenStream(t, path+"/events", "", "?ticket="+tk.Ticket, "X-Forwarded-For", nat); st.Status != http.StatusOK {
		t.Errorf("a stream by ticket from the address: got %d, want 200", st.Status)
	}

	// Another address is untouched: its forged JWT is put to Appwrite.
	coreProblem(t, from(forged(6), "192.0.2.67"), http.StatusUnauthorized, "unauthorized")
	if got := aw.calls.Load() - calls; got != 7 { // 5, bob's join, and this one
		t.Fatalf("Appwrite calls: got %d, want 7", got)
	}
}

// dialStalled opens room's stream on a raw connection with a tiny receive
// buffer and then never reads: a client that stopped reading.
func dialStalled(t *testing.T, s *Server, token, room string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		_ = rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /api/v1/rooms/%s/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n", room, token)
	status, err := bufio.NewReader(io.LimitReader(conn, 64)).ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("stalled stream: %q %v", status, err)
	}
	return conn
}

// A reader that stops reading is cut off by the per-write deadline, without
// waiting for its queue to overflow and without delaying anyone else.
func TestAbuseStalledReaderCutOff(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{WriteTimeout: 300 * time.Millisecond, Queue: 1 << 20})
	alice, bob, eve := s.Client(t, "alice"), s.Client(t, "bob"), s.Client(t, "eve")
	room := coreRoom(t, alice, bob, eve)
	healthy := bob.Stream(room)
	dialStalled(t, s, eve.Token, room)
	waitFor(t, 5*time.Second, "both streams", func() bool { return coreMetric(t, s, "chat_open_streams") == 2 })

	// Post until the stalled stream is gone: its socket buffers fill, a
	// write blocks, and the deadline ends it.
	content := strings.Repeat("🐌", 2000) // 8 KB a message
	sent := 0
	start := time.Now()
	for coreMetric(t, s, "chat_open_streams") == 2 {
		if time.Since(start) > 60*time.Second {
			t.Fatalf("the stalled stream is still open after %d messages", sent)
		}
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, _ = corePost(s, alice.Token, room, map[string]string{"content": content})
			}()
		}
		wg.Wait()
		sent += 8
	}
	t.Logf("the stalled reader was cut off after %d messages (%s)", sent, time.Since(start).Round(time.Millisecond))
	// Counted as a subscriber that fell behind, and ended by the write
	// deadline, not by its (huge) queue.
	if drops := coreMetric(t, s, "chat_slow_subscriber_disconnects_total"); drops != 1 {
		t.Errorf("chat_slow_subscriber_disconnects_total: got %v, want 1", drops)
	}
	waitFor(t, 5*time.Second, "the stream's end in the log", func() bool {
		return strings.Contains(s.Logs.String(), `"reason":"write failed"`)
	})
	if strings.Contains(s.Logs.String(), `"reason":"subscription ended"`) {
		t.Fatal("the queue ended the stalled stream, not the write deadline")
	}
	// The healthy stream got every message, in order, meanwhile.
	got := healthy.Collect(sent, 30*time.Second)
	for i := 1; i < len(got); i++ {
		a, _ := strconv.ParseInt(got[i-1].ID, 10, 64)
		b, _ := strconv.ParseInt(got[i].ID, 10, 64)
		if b != a+1 {
			t.Fatalf("healthy stream: seq %d after %d", b, a)
		}
	}
}

// Every answer carries the security headers; authenticated ones and problems
// under /api are never cached.
func TestAbuseSecurityHeaders(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice := s.Client(t, "alice")
	room := coreRoom(t, alice)
	anon := s.as(t, "anon", "")
	cases := []struct {
		name    string
		r       *Response
		noStore bool
	}{
		{"authenticated JSON", alice.Do("GET", "/api/v1/rooms/"+room, nil), true},
		{"authenticated history", alice.Do("GET", "/api/v1/rooms/"+room+"/messages", nil), true},
		{"a ticket", alice.Do("POST", "/api/v1/rooms/"+room+"/stream-ticket", nil), true},
		{"401 problem", anon.Do("GET", "/api/v1/rooms/"+room, nil), true},
		{"404 problem", alice.Do("GET", "/api/v1/nothing", nil), true},
		{"healthz", anon.Do("GET", "/healthz", nil), false},
		{"unknown path", anon.Do("GET", "/nothing", nil), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.r.Header
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("X-Content-Type-Options %q, Referrer-Policy %q", h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"))
			}
			if c.noStore && h.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", h.Get("Cache-Control"))
			}
		})
	}
	st := alice.Stream(room)
	if st.Header.Get("Cache-Control") != "no-cache, no-store" || st.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("stream headers: %v", st.Header)
	}
}

// freePort returns a loopback address nothing listens on (for a moment).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// get answers a plain GET's status and body.
func get(t *testing.T, url string, headers ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type") + " " + string(b)
}

// /metrics, Swagger UI and pprof can be turned off or moved to an internal
// listener by configuration.
func TestAbuseOpsExposure(t *testing.T) {
	t.Parallel()
	type route struct {
		path   string
		status int
	}
	check := func(t *testing.T, base string, routes ...route) {
		t.Helper()
		for _, r := range routes {
			if got, body := get(t, base+r.path); got != r.status {
				t.Errorf("GET %s%s: %d, want %d (%.120s)", base, r.path, got, r.status, body)
			}
		}
	}
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		_, n := startProcess(t, filepath.Join(t.TempDir(), "chat.db"))
		check(t, n.URL, route{"/metrics", 200}, route{"/swagger/index.html", 200}, route{"/debug/pprof/", 404}, route{"/healthz", 200})
	})
	t.Run("turned off", func(t *testing.T) {
		t.Parallel()
		_, n := startProcess(t, filepath.Join(t.TempDir(), "chat.db"), "CHAT_METRICS=off", "CHAT_SWAGGER=off")
		check(t, n.URL, route{"/metrics", 404}, route{"/swagger/index.html", 404}, route{"/swagger/doc.json", 404}, route{"/healthz", 200}, route{"/readyz", 200})
	})
	t.Run("internal listener", func(t *testing.T) {
		t.Parallel()
		internal := freePort(t)
		_, n := startProcess(t, filepath.Join(t.TempDir(), "chat.db"), "CHAT_INTERNAL_ADDR="+internal)
		check(t, n.URL, route{"/metrics", 404}, route{"/swagger/index.html", 404}, route{"/debug/pprof/", 404}, route{"/healthz", 200})
		in := "http://" + internal
		check(t, in, route{"/metrics", 200}, route{"/swagger/index.html", 200}, route{"/debug/pprof/", 200},
			route{"/debug/pprof/goroutine?debug=1", 200}, route{"/healthz", 200}, route{"/api/v1/rooms/x", 404})
		if _, body := get(t, in+"/metrics"); !strings.Contains(body, "go_goroutines") {
			t.Errorf("internal /metrics: %.200s", body)
		}
	})
	t.Run("bad settings stop the server", func(t *testing.T) {
		t.Parallel()
		for _, env := range []string{"CHAT_TRUSTED_PROXIES=not-an-ip", "CHAT_METRICS=maybe", "CHAT_MAX_STREAMS_PER_USER=-1", "CHAT_AUTH_FAILURE_RATE=lots"} {
			serverBinary(t)
			c := &Cluster{t: t, DB: filepath.Join(t.TempDir(), "chat.db"), Secret: []byte(randomHex(24)), Env: []string{env}}
			name, _, _ := strings.Cut(env, "=")
			if _, err := c.start("bad"); err == nil || !strings.Contains(err.Error(), "exited before listening") || !strings.Contains(err.Error(), name) {
				t.Errorf("%s: %v, want the server to refuse to start", env, err)
			}
		}
	})
}
