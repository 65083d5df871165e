package tests

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// coreTicket gets a stream ticket for room as c.
func coreTicket(t *testing.T, c *Client, room string) api.StreamTicket {
	t.Helper()
	var tk api.StreamTicket
	c.Must(http.StatusCreated, "POST", "/api/v1/rooms/"+room+"/stream-ticket", nil, &tk)
	return tk
}

// A ticket opens its room's stream without an Authorization header, and
// nothing else.
func TestStreamTicket(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	roomA, roomB := coreRoom(t, alice, bob), coreRoom(t, alice, bob)
	tk := coreTicket(t, bob, roomA)
	exp, err := time.Parse(time.RFC3339Nano, tk.ExpiresAt)
	if err != nil || tk.Ticket == "" {
		t.Fatalf("ticket: got %q expiring %q (%v), want a ticket and an RFC 3339 time", tk.Ticket, tk.ExpiresAt, err)
	}
	if left := time.Until(exp); left <= 0 || left > 61*time.Second {
		t.Fatalf("ticket expires in %s, want within 60s", left)
	}
	events := func(room string) string { return "/api/v1/rooms/" + room + "/events" }
	q := "?ticket=" + url.QueryEscape(tk.Ticket)

	st := s.OpenStream(t, events(roomA)+q, "")
	if st.Status != http.StatusOK {
		t.Fatalf("stream by ticket: got %d %+v, want 200", st.Status, st.Problem)
	}
	m := alice.Send(roomA, "hello by ticket")
	if got := coreNext(t, st, 1, 2*time.Second)[0]; got.ID != m.ID {
		t.Fatalf("stream by ticket: got message %s, want %s", got.ID, m.ID)
	}
	// EventSource reconnects with the same URL and Last-Event-ID.
	again := s.OpenStream(t, events(roomA)+q, "", "Last-Event-ID", "0")
	if again.Status != http.StatusOK {
		t.Fatalf("reconnect by ticket: got %d, want 200", again.Status)
	}

	refused := []struct{ name, path, token string }{
		{"ticket for room A on room B", events(roomB) + q, ""},
		{"garbage ticket", events(roomA) + "?ticket=garbage", ""},
		{"empty ticket", events(roomA) + "?ticket=", ""},
		{"bearer token as ticket", events(roomA) + "?ticket=" + bob.Token, ""},
		{"ticket as bearer token", events(roomA), tk.Ticket},
	}
	for _, c := range refused {
		st := s.OpenStream(t, c.path, c.token)
		if st.Status != http.StatusUnauthorized || st.Problem == nil || st.Problem.Code != "unauthorized" {
			t.Errorf("%s: got %d %+v, want 401 unauthorized", c.name, st.Status, st.Problem)
		}
	}
	// A ticket is for the stream only.
	anon := &Client{t: t, s: s, User: "anonymous"}
	coreProblem(t, anon.Do("GET", "/api/v1/rooms/"+roomA+"/messages"+q, nil), http.StatusUnauthorized, "unauthorized")
}

// Neither tokens nor tickets reach the logs, whichever way they were sent.
func TestLogsHoldNoCredentials(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	events := "/api/v1/rooms/" + room + "/events"
	tk := coreTicket(t, bob, room)

	st := s.OpenStream(t, events+"?ticket="+url.QueryEscape(tk.Ticket)+"&last_event_id=0", "")
	if st.Status != http.StatusOK {
		t.Fatalf("stream by ticket: got %d, want 200", st.Status)
	}
	alice.Send(room, "hello")
	coreNext(t, st, 1, 2*time.Second)
	st.Close()
	bad := s.OpenStream(t, events+"?ticket="+url.QueryEscape(tk.Ticket)+"x", "")
	if bad.Status != http.StatusUnauthorized {
		t.Fatalf("stream by a spoiled ticket: got %d, want 401", bad.Status)
	}
	anon := &Client{t: t, s: s, User: "anonymous"}
	for _, q := range []string{"?token=", "?access_token=", "?limit=5&token="} {
		r := anon.Do("GET", "/api/v1/rooms/"+room+"/messages"+q+alice.Token, nil)
		coreProblem(t, r, http.StatusUnauthorized, "unauthorized")
		if strings.Contains(string(r.Body), alice.Token) {
			t.Errorf("%s: the 401 body echoes the token", q)
		}
	}
	// Only the exact lower-case names are credentials to the server, but any
	// spelling of one is a credential to whoever reads the log.
	for _, q := range []string{"?Ticket=" + url.QueryEscape(tk.Ticket), "?TICKET=" + url.QueryEscape(tk.Ticket),
		"?Token=" + alice.Token, "?jwt=" + bob.Token, "?last_event_id=0&Access_Token=" + alice.Token} {
		if st := s.OpenStream(t, events+q, ""); st.Status != http.StatusUnauthorized {
			t.Errorf("%s…: got %d, want 401", q[:8], st.Status)
		}
	}
	expired := s.Token(t, "alice", false, -time.Hour)
	anon.Token = expired
	coreProblem(t, anon.Do("GET", "/api/v1/rooms/"+room+"/messages", nil), http.StatusUnauthorized, "unauthorized")

	// The stream's request line is logged when it ends.
	waitFor(t, 2*time.Second, "the ticket stream's log line", func() bool {
		return strings.Count(s.Logs.String(), "ticket=***") >= 2
	})
	logs := s.Logs.String()
	if !strings.Contains(logs, "token=***") {
		t.Errorf("logs: got no masked token=***, want the refused requests logged with the token masked")
	}
	secrets := map[string]string{"alice's token": alice.Token, "bob's token": bob.Token, "expired token": expired, "ticket": tk.Ticket}
	for name, secret := range secrets {
		sig := secret[strings.LastIndex(secret, ".")+1:]
		if strings.Contains(logs, secret) || strings.Contains(logs, sig) {
			t.Errorf("logs: got %s (or its signature) in the logs, want it never logged:\n%s", name, logs)
		}
	}
}
