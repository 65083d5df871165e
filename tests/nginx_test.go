package tests

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers"
	"github.com/resonate/resonate-chat/handlers/stream"
)

// behindNginx starts a server configured as the README says to run it behind
// nginx (CHAT_TRUSTED_PROXIES as the README sets it), and nginx in front of
// it with the README's recipe.
func behindNginx(t *testing.T, o Options) (*Server, *nginxProxy) {
	t.Helper()
	o.Limits.TrustedProxies = readmeTrustedProxies(t)
	s := StartServer(t, o)
	return s, startNginx(t, s)
}

// readmeTrustedProxies is the CHAT_TRUSTED_PROXIES the README's nginx section
// runs the server with.
func readmeTrustedProxies(t *testing.T) []string {
	t.Helper()
	m := regexp.MustCompile(`CHAT_TRUSTED_PROXIES=(\S+)`).FindStringSubmatch(nginxSection(t))
	if m == nil {
		t.Fatal("README.md's nginx section sets no CHAT_TRUSTED_PROXIES")
	}
	return strings.Split(m[1], ",")
}

// nginxSection is the README's section on running behind nginx.
func nginxSection(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Behind nginx")
	if !ok {
		t.Fatal("README.md has no section \"## Behind nginx…\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	return section
}

// TestNginxRecipeIsTheReadmes: the README shows deploy/nginx.conf, the file
// the nginx tests run, exactly; and the recipe's stream location waits longer
// than the default heartbeat, so an idle stream is never cut by nginx.
func TestNginxRecipeIsTheReadmes(t *testing.T) {
	t.Parallel()
	recipe, err := os.ReadFile(nginxRecipe)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(nginxSection(t), "\n```nginx\n"+string(recipe)+"```\n") {
		t.Errorf("README.md's nginx section does not show %s exactly, in a ```nginx block: copy the file there", nginxRecipe)
	}
	_, loc, ok := strings.Cut(string(recipe), "location ~ ^/api/v1/rooms/[^/]+/events$ {")
	if !ok {
		t.Fatalf("%s has no location for the event stream", nginxRecipe)
	}
	loc, _, _ = strings.Cut(loc, "}")
	for _, want := range []string{"proxy_buffering off;", "proxy_pass http://resonate_chat;"} {
		if !strings.Contains(loc, want) {
			t.Errorf("the stream location lacks %q", want)
		}
	}
	m := regexp.MustCompile(`proxy_read_timeout (\d+)s;`).FindStringSubmatch(loc)
	if m == nil {
		t.Fatal("the stream location sets no proxy_read_timeout in seconds")
	}
	if n, _ := strconv.Atoi(m[1]); time.Duration(n)*time.Second < 2*stream.DefaultHeartbeat {
		t.Errorf("proxy_read_timeout %ss: want at least two heartbeats (%s)", m[1], 2*stream.DefaultHeartbeat)
	}
}

// TestNginxChat runs the client's side of the chat through nginx over TLS and
// HTTP/2: the join flow, a resume by Last-Event-ID, and a ban that ends the
// banned user's stream. Each user connects from an address of their own.
func TestNginxChat(t *testing.T) {
	t.Parallel()
	// A short heartbeat, to see that nginx passes comments on at once too.
	s, px := behindNginx(t, Options{Heartbeat: 300 * time.Millisecond})
	alice := px.Client(t, s, "alice", "127.0.0.2")
	bob := px.Client(t, s, "bob", "127.0.0.3")
	room := coreRoom(t, alice, bob)

	t.Run("join flow", func(t *testing.T) {
		before := []api.RoomMessage{alice.Send(room, "before-0"), alice.Send(room, "before-1")}
		page := bob.History(room, "?limit=50")
		if len(page.Messages) != 2 || page.Messages[0].ID != before[1].ID || page.HeadSeq != before[1].Seq {
			t.Fatalf("history: got %d messages, head_seq %d; want the 2 sent, head_seq %d", len(page.Messages), page.HeadSeq, before[1].Seq)
		}
		st := bob.Stream(room, "Last-Event-ID", strconv.FormatInt(page.HeadSeq, 10))
		if st.Status != http.StatusOK || st.Proto != 2 {
			t.Fatalf("stream through nginx: status %d over HTTP/%d, want 200 over HTTP/2", st.Status, st.Proto)
		}
		if ct := st.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("Content-Type through nginx: got %q, want text/event-stream", ct)
		}
		if ev := st.Next(2 * time.Second); ev.Retry == "" {
			t.Errorf("first frame: got %+v, want the retry field", ev)
		}
		select {
		case <-st.Comments():
		case <-time.After(2 * time.Second):
			t.Fatal("no heartbeat through nginx within 2s (the server sends one every 300ms)")
		}
		for i := range 3 {
			m := alice.Send(room, fmt.Sprintf("live-%d", i))
			at := time.Now()
			got := coreNext(t, st, 1, 2*time.Second)[0]
			if got.ID != m.ID {
				t.Fatalf("live message %d: got %q (seq %d), want %q (seq %d)", i, got.Content, got.Seq, m.Content, m.Seq)
			}
			if d := time.Since(at); d > time.Second {
				t.Errorf("live message %d took %s through nginx: buffered?", i, d)
			}
		}
		if extra := st.Drain(); len(extra) != 0 {
			t.Fatalf("after the live messages: got %d more events, want none: %v", len(extra), extra)
		}
		st.Close()
	})

	t.Run("resume by Last-Event-ID", func(t *testing.T) {
		st := bob.Stream(room)
		seen := alice.Send(room, "seen")
		if got := coreNext(t, st, 1, 2*time.Second)[0]; got.ID != seen.ID {
			t.Fatalf("got %q, want %q", got.Content, seen.Content)
		}
		st.Close()
		var want []api.RoomMessage
		for _, text := range coreTexts("missed", 4) {
			want = append(want, alice.Send(room, text))
		}
		st = bob.Stream(room, "Last-Event-ID", strconv.FormatInt(seen.Seq, 10))
		want = append(want, alice.Send(room, "live"))
		got := coreNext(t, st, len(want), 2*time.Second)
		for i := range want {
			if got[i].ID != want[i].ID {
				t.Fatalf("event %d after resuming through nginx: got %q (seq %d), want %q (seq %d)",
					i, got[i].Content, got[i].Seq, want[i].Content, want[i].Seq)
			}
		}
		if extra := st.Drain(); len(extra) != 0 {
			t.Fatalf("after the live message: got %d more events, want none: %v", len(extra), extra)
		}
		st.Close()
	})

	t.Run("a ban ends the stream", func(t *testing.T) {
		st := bob.Stream(room)
		if st.Status != http.StatusOK {
			t.Fatalf("stream: status %d", st.Status)
		}
		alice.Must(http.StatusOK, "PUT", "/api/v1/rooms/"+room+"/bans/bob", map[string]string{"reason": "spam"}, nil)
		ev := st.NextRoomEvent(2 * time.Second)
		if ev.Type != "user.banned" || !strings.Contains(ev.Data, `"user_id":"bob"`) {
			t.Fatalf("got %s %s, want user.banned for bob", ev.Type, ev.Data)
		}
		if !st.Ended(2 * time.Second) {
			t.Fatal("bob's stream through nginx is still open 2s after user.banned")
		}
		if st.err != nil {
			t.Errorf("bob's stream ended with %v, want a clean end", st.err)
		}
		again := bob.Stream(room)
		if again.Status != http.StatusForbidden || again.Problem == nil || again.Problem.Code != "banned" {
			t.Fatalf("reopening: status %d, problem %+v; want 403 banned", again.Status, again.Problem)
		}
	})

	t.Run("no node answers", func(t *testing.T) {
		s.Close()
		st := alice.Stream(room)
		if st.Status != http.StatusServiceUnavailable || st.Problem == nil || st.Problem.Code != "unavailable" {
			t.Fatalf("with the server down: status %d, problem %+v; want 503 unavailable", st.Status, st.Problem)
		}
		if got := st.Header.Get("Retry-After"); got != "2" {
			t.Errorf("Retry-After: got %q, want 2", got)
		}
	})
}

// TestNginxClientAddress: behind nginx the server counts streams by the
// client's address, not nginx's, and a client cannot pick its address with
// an X-Forwarded-For of its own. Carol and Dave share an address (one
// office); Erin has another. The request log names each client's address.
func TestNginxClientAddress(t *testing.T) {
	t.Parallel()
	s, px := behindNginx(t, Options{Limits: handlers.Limits{StreamsPerIP: 1}})
	alice := px.Client(t, s, "alice", "127.0.0.2")
	carol := px.Client(t, s, "carol", "127.0.0.4")
	dave := px.Client(t, s, "dave", "127.0.0.4")
	erin := px.Client(t, s, "erin", "127.0.0.5")
	room := coreRoom(t, alice, carol, dave, erin)

	if st := carol.Stream(room); st.Status != http.StatusOK {
		t.Fatalf("carol's stream: status %d, want 200", st.Status)
	}
	for _, tc := range []struct {
		name   string
		c      *Client
		header []string
		want   int
	}{
		{"another user from the same address", dave, nil, http.StatusTooManyRequests},
		{"the same address claiming another", dave, []string{"X-Forwarded-For", "127.0.0.9", "X-Real-IP", "127.0.0.9"}, http.StatusTooManyRequests},
		{"another address", erin, nil, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.c.Stream(room, tc.header...)
			if st.Status != tc.want {
				t.Fatalf("%s's stream: status %d, want %d (problem %+v)", tc.c.User, st.Status, tc.want, st.Problem)
			}
			if tc.want == http.StatusTooManyRequests && !strings.Contains(st.Problem.Detail, "from this address") {
				t.Errorf("refusal: got %q, want the limit from this address", st.Problem.Detail)
			}
		})
	}
	// The request log names the client, as operators behind a proxy expect.
	for _, addr := range []string{"127.0.0.2", "127.0.0.4", "127.0.0.5"} {
		if !strings.Contains(s.Logs.String(), `"client":"`+addr+`"`) {
			t.Errorf("no request log line with client %s", addr)
		}
	}
	if strings.Contains(s.Logs.String(), `"client":"127.0.0.9"`) {
		t.Error("a request log line names the address a client claimed in X-Forwarded-For")
	}
}

// TestNginxStalledSubscriber: behind nginx too, a subscriber that stops
// reading is cut off by the server while the others keep getting every
// message at once; when it reads again it gets what nginx still held, then
// the end of the stream, and a resume by Last-Event-ID loses nothing. The
// stalled client speaks HTTP/2 with a 64 KiB window per stream, so that
// nginx can send it little ahead (a browser allows a few MB, which only takes
// more messages to fill).
func TestNginxStalledSubscriber(t *testing.T) {
	// Not parallel: it measures latency.
	s, px := behindNginx(t, Options{Queue: 4, WriteTimeout: 500 * time.Millisecond, MaxLength: 30000, HistoryLimit: 1000})
	alice := px.Client(t, s, "alice", "127.0.0.2")
	bob := px.Client(t, s, "bob", "127.0.0.3")
	carol := px.Client(t, s, "carol", "127.0.0.4")
	mallory := px.Client(t, s, "mallory", "127.0.0.6")
	room := coreRoom(t, alice, bob, carol, mallory)
	healthy := []*Stream{bob.Stream(room), carol.Stream(room)}
	stalled := openUnread(t, px.HTTPClient(t, "127.0.0.6", 64<<10), px.URL+"/api/v1/rooms/"+room+"/events", mallory.Token)
	waitFor(t, 2*time.Second, "three open streams", func() bool { return coreMetric(t, s, "chat_open_streams") == 3 })

	big := strings.Repeat("x", 29000)
	var sent []api.RoomMessage
	var slowest time.Duration
	for coreMetric(t, s, "chat_open_streams") > 2 {
		if len(sent) == 1000 {
			t.Fatalf("the stalled stream is still open after %d messages", len(sent))
		}
		m := alice.Send(room, fmt.Sprintf("%d %s", len(sent), big))
		sent = append(sent, m)
		at := time.Now()
		for i, st := range healthy {
			ev := st.NextRoomEvent(2 * time.Second)
			d := time.Since(at)
			if ev.ID != strconv.FormatInt(m.Seq, 10) || d > 250*time.Millisecond {
				t.Fatalf("healthy stream %d, message %d: got id %s after %s, want %d within 250ms", i, len(sent)-1, ev.ID, d, m.Seq)
			}
			slowest = max(slowest, d)
		}
	}
	t.Logf("stalled stream dropped after %d messages; slowest healthy delivery through nginx %s", len(sent), slowest)
	if got := coreMetric(t, s, "chat_slow_subscriber_disconnects_total"); got != 1 {
		t.Errorf("chat_slow_subscriber_disconnects_total: got %v, want 1", got)
	}

	// Reading again, the stalled client gets a prefix of what was sent, in
	// order, then the end of the stream.
	stalled.start()
	var got []api.RoomMessage
	for !stalled.Ended(0) || len(stalled.events) > 0 {
		select {
		case ev := <-stalled.events:
			if ev.Type == "message.created" {
				got = append(got, coreMessage(t, ev))
			}
		case <-stalled.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the stalled stream, read again, has not ended after %d messages", len(got))
		}
	}
	if stalled.err != nil {
		t.Errorf("the stalled stream ended with %v, want a clean end", stalled.err)
	}
	if len(got) >= len(sent) {
		t.Fatalf("the stalled stream got %d messages of %d: it was not cut off", len(got), len(sent))
	}
	last := sent[0].Seq - 1
	for i, m := range got {
		if m.ID != sent[i].ID {
			t.Fatalf("stalled stream, message %d: got seq %d, want %d", i, m.Seq, sent[i].Seq)
		}
		last = m.Seq
	}
	t.Logf("the stalled stream delivered %d of %d messages, then ended", len(got), len(sent))

	st := mallory.Stream(room, "Last-Event-ID", strconv.FormatInt(last, 10))
	want := append(sent[len(got):], alice.Send(room, "live"))
	for i, m := range coreNext(t, st, len(want), 10*time.Second) {
		if m.ID != want[i].ID {
			t.Fatalf("resumed after seq %d, message %d: got seq %d, want %d", last, i, m.Seq, want[i].Seq)
		}
	}
}

// openUnread opens a stream and reads nothing of its body until start.
func openUnread(t *testing.T, hc *http.Client, url, token string) *Stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open stream: %v", err)
	}
	st := &Stream{t: t, Status: resp.StatusCode, Proto: resp.ProtoMajor, Header: resp.Header, events: make(chan Event, 10000),
		comments: make(chan string, 100), done: make(chan struct{}), cancel: cancel, body: resp.Body}
	t.Cleanup(st.Close)
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("stream: status %d over HTTP/%d, want 200 over HTTP/2", resp.StatusCode, resp.ProtoMajor)
	}
	return st
}

// start reads the stream from now on.
func (st *Stream) start() { go st.read() }
