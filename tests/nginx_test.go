package tests

import (
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
	_, stream, ok := strings.Cut(string(recipe), "location ~ ^/api/v1/rooms/[^/]+/events$ {")
	if !ok {
		t.Fatalf("%s has no location for the event stream", nginxRecipe)
	}
	stream, _, _ = strings.Cut(stream, "}")
	for _, want := range []string{"proxy_buffering off;", "proxy_pass http://resonate_chat;"} {
		if !strings.Contains(stream, want) {
			t.Errorf("the stream location lacks %q", want)
		}
	}
	m := regexp.MustCompile(`proxy_read_timeout (\d+)s;`).FindStringSubmatch(stream)
	if m == nil {
		t.Fatal("the stream location sets no proxy_read_timeout in seconds")
	}
	if n, _ := strconv.Atoi(m[1]); time.Duration(n)*time.Second < 2*handlers.DefaultHeartbeat {
		t.Errorf("proxy_read_timeout %ss: want at least two heartbeats (%s)", m[1], 2*handlers.DefaultHeartbeat)
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
}
