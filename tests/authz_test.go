package tests

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// authzCallers are the kinds of caller of the authorization matrix, in the
// order of every row's want column. Each is also the user id of that caller,
// but for "anonymous", who sends no token.
var authzCallers = [...]string{"owner", "moderator", "participant", "muted", "banned", "outsider", "admin", "anonymous"}

// authzFixture is a room where every kind of caller stands in its place:
// owner, a moderator, a participant, a muted participant, a banned user (not in
// the room any more), an outsider who never joined, and "target", a plain
// participant the moderation rows act on. Every member but the outsider sent one
// message, before the mute and the ban.
type authzFixture struct {
	room string
	msg  map[string]string // user id → id of the message they sent
}

func newAuthzFixture(t *testing.T, s *Server, cs map[string]*Client) authzFixture {
	t.Helper()
	f := authzFixture{room: uniqueRoom(t), msg: map[string]string{}}
	owner := cs["owner"]
	owner.CreateRoom(f.room)
	base := "/api/v1/rooms/" + f.room
	for _, u := range []string{"moderator", "participant", "muted", "banned", "target"} {
		cs[u].Join(f.room)
	}
	owner.Must(http.StatusOK, "PUT", base+"/participants/moderator/role", map[string]string{"role": "moderator"}, nil)
	for _, u := range []string{"owner", "moderator", "participant", "muted", "banned", "target"} {
		f.msg[u] = cs[u].Send(f.room, "hello from "+u).ID
	}
	owner.Must(http.StatusOK, "PUT", base+"/mutes/muted", map[string]any{"duration_seconds": 3600}, nil)
	owner.Must(http.StatusOK, "PUT", base+"/bans/banned", map[string]any{"reason": "spam"}, nil)
	return f
}

// expand fills {room}, {self}, {own} (the caller's message, or the target's
// for a caller who sent none) and {target_msg} into s.
func (f authzFixture) expand(s, caller string) string {
	own, ok := f.msg[caller]
	if !ok {
		own = f.msg["target"]
	}
	return strings.NewReplacer("{room}", f.room, "{self}", caller, "{own}", own, "{target_msg}", f.msg["target"]).Replace(s)
}

// Answers shared by many rows; columns as authzCallers.
var (
	authzMemberRead = [8]string{"200", "200", "200", "200", "403 banned", "403 not_participant", "200", "401 unauthorized"}
	authzModOnly200 = [8]string{"200", "200", "403 forbidden", "403 forbidden", "403 banned", "403 not_participant", "200", "401 unauthorized"}
	authzModOnly204 = [8]string{"204", "204", "403 forbidden", "403 forbidden", "403 banned", "403 not_participant", "204", "401 unauthorized"}
)

// TestAuthzMatrix calls every endpoint of the contract as every kind of caller
// and checks the exact status and error code, each row on its own fixture room.
func TestAuthzMatrix(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	tokens := map[string]string{"admin": s.Admin(t, "admin").Token, "anonymous": ""}
	for _, u := range []string{"owner", "moderator", "participant", "muted", "banned", "outsider", "target"} {
		tokens[u] = s.Client(t, u).Token
	}
	const room = "/api/v1/rooms/{room}"
	rows := []struct {
		name, method, path, body string
		want                     [8]string // owner, moderator, participant, muted, banned, outsider, admin, anonymous
	}{
		{"create room", "POST", "/api/v1/rooms", `{"name":"fresh"}`,
			[8]string{"201", "201", "201", "201", "201", "201", "201", "401 unauthorized"}},
		{"create with taken id", "POST", "/api/v1/rooms", `{"id":"{room}","name":"again"}`,
			[8]string{"200", "409 conflict", "409 conflict", "409 conflict", "409 conflict", "409 conflict", "409 conflict", "401 unauthorized"}},
		{"get room", "GET", room, "", authzMemberRead},
		{"me", "GET", room + "/me", "", [8]string{"200", "200", "200", "200", "200", "200", "200", "401 unauthorized"}},
		{"close room", "DELETE", room, "",
			[8]string{"204", "403 forbidden", "403 forbidden", "403 forbidden", "403 banned", "403 not_participant", "204", "401 unauthorized"}},
		{"join", "POST", room + "/participants", "",
			[8]string{"200", "200", "200", "200", "403 banned", "201", "201", "401 unauthorized"}},
		{"list participants", "GET", room + "/participants", "", authzMemberRead},
		{"leave", "DELETE", room + "/participants/{self}", "",
			[8]string{"204", "204", "204", "204", "403 banned", "403 not_participant", "404 not_found", "401 unauthorized"}},
		{"kick", "DELETE", room + "/participants/target", "", authzModOnly204},
		{"set role", "PUT", room + "/participants/target/role", `{"role":"moderator"}`,
			[8]string{"200", "403 forbidden", "403 forbidden", "403 forbidden", "403 banned", "403 not_participant", "200", "401 unauthorized"}},
		{"send", "POST", room + "/messages", `{"content":"hi"}`,
			[8]string{"201", "201", "201", "403 muted", "403 banned", "403 not_participant", "201", "401 unauthorized"}},
		{"history", "GET", room + "/messages", "", authzMemberRead},
		{"get message", "GET", room + "/messages/{target_msg}", "", authzMemberRead},
		{"edit own message", "PATCH", room + "/messages/{own}", `{"content":"edited"}`,
			[8]string{"200", "200", "200", "403 muted", "403 banned", "403 not_participant", "403 forbidden", "401 unauthorized"}},
		{"edit target message", "PATCH", room + "/messages/{target_msg}", `{"content":"edited"}`,
			[8]string{"403 forbidden", "403 forbidden", "403 forbidden", "403 forbidden", "403 banned", "403 not_participant", "403 forbidden", "401 unauthorized"}},
		{"delete own message", "DELETE", room + "/messages/{own}", "",
			[8]string{"204", "204", "204", "204", "403 banned", "403 not_participant", "204", "401 unauthorized"}},
		{"delete target message", "DELETE", room + "/messages/{target_msg}", "", authzModOnly204},
		{"mute", "PUT", room + "/mutes/target", `{"duration_seconds":60}`, authzModOnly200},
		{"unmute", "DELETE", room + "/mutes/muted", "", authzModOnly204},
		{"ban", "PUT", room + "/bans/target", `{"duration_seconds":60}`, authzModOnly200},
		{"unban", "DELETE", room + "/bans/banned", "", authzModOnly204},
		{"list bans", "GET", room + "/bans", "", authzModOnly200},
		{"update chat", "PATCH", room + "/chat", `{"slow_mode_seconds":5}`, authzModOnly200},
		{"moderation log", "GET", room + "/moderation-log", "", authzModOnly200},
		{"stream ticket", "POST", room + "/stream-ticket", "",
			[8]string{"201", "201", "201", "201", "403 banned", "403 not_participant", "201", "401 unauthorized"}},
		{"stream", "STREAM", room + "/events", "", authzMemberRead},
	}
	// A caller who succeeds at one of these changes the room, so each such
	// call gets a fresh fixture; every other call of a row shares one.
	changes := map[string]bool{"close room": true, "join": true, "leave": true, "kick": true, "set role": true,
		"send": true, "edit own message": true, "delete own message": true, "delete target message": true,
		"mute": true, "unmute": true, "ban": true, "unban": true, "update chat": true}
	clients := func(t *testing.T) map[string]*Client {
		cs := map[string]*Client{}
		for u, tok := range tokens {
			cs[u] = &Client{t: t, s: s, User: u, Token: tok}
		}
		return cs
	}
	for _, row := range rows {
		t.Run(strings.ReplaceAll(row.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			shared := newAuthzFixture(t, s, clients(t))
			for i, caller := range authzCallers {
				want := row.want[i]
				t.Run(caller, func(t *testing.T) {
					t.Parallel()
					cs, f := clients(t), shared
					if changes[row.name] && want[0] == '2' {
						f = newAuthzFixture(t, s, cs)
					}
					path, c := f.expand(row.path, caller), cs[caller]
					r := authzCall(t, s, c, row.method, path, f.expand(row.body, caller))
					wantStatus, wantCode, _ := strings.Cut(want, " ")
					if got := strconv.Itoa(r.Status); got != wantStatus {
						t.Fatalf("%s %s as %s: got status %s, want %s: %s", row.method, path, caller, got, want, r.Body)
					}
					if wantCode != "" {
						checkAuthzProblem(t, r, r.Status, wantCode)
					}
				})
			}
		})
	}
}

// authzCall makes one call of the matrix; a STREAM is opened and closed at
// once, its refusal read as any other response.
func authzCall(t *testing.T, s *Server, c *Client, method, path, body string) *Response {
	t.Helper()
	if method != "STREAM" {
		var b any
		if body != "" {
			b = body
		}
		return c.Do(method, path, b)
	}
	st := s.OpenStream(t, path, c.Token)
	st.Close()
	r := &Response{Status: st.Status, Header: st.Header}
	if st.Problem != nil {
		r.Body, _ = json.Marshal(st.Problem)
	}
	return r
}

// checkAuthzProblem checks a refusal's problem document: code and status, and
// until with Retry-After exactly where the contract puts them.
func checkAuthzProblem(t *testing.T, r *Response, status int, code string) {
	t.Helper()
	if r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got Content-Type %q, want application/problem+json", r.Header.Get("Content-Type"))
	}
	var p struct {
		Code   string  `json:"code"`
		Status int     `json:"status"`
		Until  *string `json:"until"`
	}
	r.JSON(t, &p)
	if p.Code != code || p.Status != status {
		t.Fatalf("got code %q status %d, want %q %d", p.Code, p.Status, code, status)
	}
	switch code {
	case "muted":
		if p.Until == nil || r.Header.Get("Retry-After") == "" {
			t.Fatalf("muted: got until %v Retry-After %q, want both set", p.Until, r.Header.Get("Retry-After"))
		}
		until, err := time.Parse(time.RFC3339Nano, *p.Until)
		if err != nil || time.Until(until) < 30*time.Minute {
			t.Fatalf("muted: got until %q (%v), want about an hour ahead", *p.Until, err)
		}
	case "banned":
		if p.Until != nil {
			t.Fatalf("permanent ban: got until %q, want none", *p.Until)
		}
	}
}
