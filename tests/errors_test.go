package tests

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers/identity"
)

// Every bad credential is a 401 unauthorized problem, on REST and the stream.
func TestErrorsUnauthorized(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice := s.Client(t, "alice")
	room := coreRoom(t, alice)
	claims := func(exp time.Duration) identity.Claims {
		return identity.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(exp))}}
	}
	sign := func(m jwt.SigningMethod, c jwt.Claims, key any, header map[string]any) string {
		tok := jwt.NewWithClaims(m, c)
		for k, v := range header {
			tok.Header[k] = v
		}
		str, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return str
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherSecret, _ := identity.NewHS256([]byte("some other secret")).Sign("alice", "Alice", false, time.Hour)
	noExp := identity.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}}

	messages := "/api/v1/rooms/" + room + "/messages"
	cases := []struct {
		name, path, auth string
	}{
		{"missing", messages, ""},
		{"not a JWT", messages, "Bearer not-a-jwt"},
		{"three garbage parts", messages, "Bearer a.b.c"},
		{"empty bearer", messages, "Bearer "},
		{"basic scheme", messages, "Basic YWxpY2U6c2VjcmV0"},
		{"token without scheme", messages, alice.Token},
		{"expired", messages, "Bearer " + s.Token(t, "alice", false, -time.Hour)},
		{"bad signature", messages, "Bearer " + otherSecret},
		{"tampered payload", messages, "Bearer " + tamper(alice.Token)},
		{"alg none", messages, "Bearer " + sign(jwt.SigningMethodNone, claims(time.Hour), jwt.UnsafeAllowNoneSignatureType, nil)},
		{"HS384 with the secret", messages, "Bearer " + sign(jwt.SigningMethodHS384, claims(time.Hour), s.Secret, nil)},
		{"RS256", messages, "Bearer " + sign(jwt.SigningMethodRS256, claims(time.Hour), rsaKey, nil)},
		{"RS256 header over an HMAC", messages, "Bearer " + sign(jwt.SigningMethodHS256, claims(time.Hour), s.Secret, map[string]any{"alg": "RS256"})},
		{"no exp", messages, "Bearer " + sign(jwt.SigningMethodHS256, noExp, s.Secret, nil)},
		{"token in query", messages + "?token=" + alice.Token, ""},
		{"access_token in query", messages + "?access_token=" + alice.Token, ""},
		{"token in query beside a header", messages + "?token=" + alice.Token, "Bearer " + alice.Token},
		{"stream, missing", "/api/v1/rooms/" + room + "/events", ""},
		{"stream, token in query", "/api/v1/rooms/" + room + "/events?token=" + alice.Token, ""},
		{"stream, expired", "/api/v1/rooms/" + room + "/events", "Bearer " + s.Token(t, "alice", false, -time.Hour)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			anon := &Client{t: t, s: s, User: "anonymous"}
			coreProblem(t, anon.Do("GET", c.path, nil, "Authorization", c.auth), http.StatusUnauthorized, "unauthorized")
		})
	}
}

// tamper flips the payload of a JWT to another user, keeping the signature.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	parts[1] = "eyJzdWIiOiJtYWxsb3J5IiwiZXhwIjo0MTAyNDQ0ODAwfQ" // {"sub":"mallory","exp":4102444800}
	return strings.Join(parts, ".")
}

// Callers outside the room, and things that do not exist, get their codes.
func TestErrorsAccessAndNotFound(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, carol := s.Client(t, "alice"), s.Client(t, "carol")
	room := coreRoom(t, alice)
	r := "/api/v1/rooms/" + room
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"history of a room not joined", "GET", r + "/messages", nil, 403, "not_participant"},
		{"send to a room not joined", "POST", r + "/messages", map[string]string{"content": "hi"}, 403, "not_participant"},
		{"stream a room not joined", "GET", r + "/events", nil, 403, "not_participant"},
		{"ticket for a room not joined", "POST", r + "/stream-ticket", nil, 403, "not_participant"},
		{"no such room", "GET", "/api/v1/rooms/no-such-room/messages", nil, 404, "not_found"},
		{"send to no such room", "POST", "/api/v1/rooms/no-such-room/messages", map[string]string{"content": "hi"}, 404, "not_found"},
		{"no such message", "GET", r + "/messages/nosuchmessage", nil, 404, "not_found"},
		{"unknown path under the API", "GET", "/api/v1/nothing-here", nil, 404, "not_found"},
		{"unknown path in a room", "GET", r + "/nothing-here", nil, 404, "not_found"},
		{"unknown path outside the API", "GET", "/nothing-here", nil, 404, "not_found"},
		{"PUT on the rooms collection", "PUT", "/api/v1/rooms", map[string]string{"name": "x"}, 405, "method_not_allowed"},
		{"DELETE on history", "DELETE", r + "/messages", nil, 405, "method_not_allowed"},
		{"POST on the stream", "POST", r + "/events", map[string]string{}, 405, "method_not_allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			caller := &Client{t: t, s: s, User: carol.User, Token: carol.Token}
			if c.code == "not_found" && strings.Contains(c.path, "/messages/") {
				caller.Token = alice.Token // a participant asking for a missing message
			}
			coreProblem(t, caller.Do(c.method, c.path, c.body), c.status, c.code)
		})
	}
}

// Malformed requests and content are refused with the contract's codes.
func TestErrorsBadRequests(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice := s.Client(t, "alice")
	room := coreRoom(t, alice)
	msgs := "/api/v1/rooms/" + room + "/messages"
	events := "/api/v1/rooms/" + room + "/events"
	first := alice.Send(room, "first")
	type tc struct {
		name, method, path string
		body               any      // string: sent raw as application/json
		headers            []string // name, value pairs; "" deletes
		status             int
		code               string
	}
	content := func(name, raw string, status int, code string) tc {
		return tc{name, "POST", msgs, `{"content":"` + raw + `"}`, nil, status, code}
	}
	query := func(q string) tc { return tc{"query " + q, "GET", msgs + q, nil, nil, 400, "invalid"} }
	lastID := func(v string) tc {
		return tc{"Last-Event-ID " + v, "GET", events, nil, []string{"Last-Event-ID", v}, 400, "invalid"}
	}
	cases := []tc{
		{"bad JSON", "POST", msgs, `{"content":`, nil, 400, "invalid"},
		{"not an object", "POST", msgs, `["hi"]`, nil, 400, "invalid"},
		{"empty body", "POST", msgs, "", nil, 400, "invalid"},
		{"content a number", "POST", msgs, `{"content":5}`, nil, 400, "invalid"},
		{"content null", "POST", msgs, `{"content":null}`, nil, 400, "invalid"},
		{"client_id a number", "POST", msgs, `{"content":"hi","client_id":5}`, nil, 400, "invalid"},
		{"client_id empty", "POST", msgs, `{"content":"hi","client_id":""}`, nil, 400, "invalid"},
		{"client_id too long", "POST", msgs, `{"content":"hi","client_id":"` + strings.Repeat("c", 65) + `"}`, nil, 400, "invalid"},
		{"unknown field", "POST", msgs, `{"content":"hi","colour":"red"}`, nil, 400, "invalid"},
		{"duplicate field", "POST", msgs, `{"content":"hi","content":"ho"}`, nil, 400, "invalid"},
		{"reply_to elsewhere", "POST", msgs, `{"content":"hi","reply_to":"nosuchmessage"}`, nil, 400, "invalid"},
		{"bad room id", "GET", "/api/v1/rooms/bad.id/messages", nil, nil, 400, "invalid"},
		{"room id too long", "GET", "/api/v1/rooms/" + strings.Repeat("r", 65) + "/messages", nil, nil, 400, "invalid"},
		query("?limit=0"), query("?limit=101"), query("?limit=abc"), query("?limit=-1"), query("?limit=1.5"),
		query("?limit="), query("?limit=1&limit=2"), query("?before=0"), query("?before=abc"), query("?after=-1"),
		query("?after=1e3"), query("?before=5&after=1"),
		lastID("abc"), lastID("-1"), lastID("1.5"),
		{"last_event_id query", "GET", events + "?last_event_id=abc", nil, nil, 400, "invalid"},
		content("empty", "", 400, "content_empty"),
		content("only white space", ` \t\r\n `, 400, "content_empty"),
		content("2001 ASCII", strings.Repeat("a", 2001), 400, "content_too_long"),
		content("2001 two-byte", strings.Repeat("é", 2001), 400, "content_too_long"),
		content("2001 emoji", strings.Repeat("😀", 2001), 400, "content_too_long"),
		content("raw invalid UTF-8", "a\xffb", 400, "content_invalid"),
		content("truncated UTF-8", "a\xe2\x82", 400, "content_invalid"),
		content("lone high surrogate", `\ud800`, 400, "content_invalid"),
		content("lone low surrogate", `x\udc00y`, 400, "content_invalid"),
		content("high surrogate then letter", `\ud800\u0041`, 400, "content_invalid"),
		content("NUL", `a\u0000b`, 400, "content_invalid"),
		content("BEL", `a\u0007b`, 400, "content_invalid"),
		content("ESC", `\u001b[31mred`, 400, "content_invalid"),
		content("trailing C0", `hello\u0001`, 400, "content_invalid"),
		content("DEL escaped", `a\u007fb`, 400, "content_invalid"),
		content("DEL raw", "a\x7fb", 400, "content_invalid"),
		content("C1 NEL escaped", `a\u0085b`, 400, "content_invalid"),
		content("C1 NEL raw", "a\u0085b", 400, "content_invalid"),
		content("C1 APC", `a\u009fb`, 400, "content_invalid"),
		{"too large", "POST", msgs, `{"content":"` + strings.Repeat("a", 33<<10) + `"}`, nil, 413, "too_large"},
		{"text/plain", "POST", msgs, `{"content":"hi"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"no Content-Type", "POST", msgs, `{"content":"hi"}`, []string{"Content-Type", ""}, 415, "unsupported_media_type"},
		{"form", "POST", msgs, `content=hi`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"edit to empty", "PATCH", msgs + "/" + first.ID, `{"content":"  "}`, nil, 400, "content_empty"},
		{"edit with NUL", "PATCH", msgs + "/" + first.ID, `{"content":"\u0000"}`, nil, 400, "content_invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := &Client{t: t, s: s, User: alice.User, Token: alice.Token}
			coreProblem(t, a.Do(c.method, c.path, c.body, c.headers...), c.status, c.code)
		})
	}
	for _, c := range []struct{ name, in string }{
		{"2000 ASCII", strings.Repeat("a", 2000)},
		{"2000 two-byte, trimmed", "  " + strings.Repeat("é", 2000) + `\n`},
		{"2000 emoji", strings.Repeat("😀", 2000)},
		{"surrogate pair escape", `\ud83d\ude00`},
		{"tab and newline", `a\tb\nc`},
	} {
		var m api.RoomMessage
		alice.Must(http.StatusCreated, "POST", msgs, `{"content":"`+c.in+`"}`, &m)
		if n := utf8.RuneCountInString(m.Content); c.name[:4] == "2000" && n != 2000 {
			t.Errorf("%s: got %d code points stored, want 2000", c.name, n)
		}
		if c.name == "surrogate pair escape" && m.Content != "😀" {
			t.Errorf("%s: got %q, want 😀", c.name, m.Content)
		}
	}
	if got := len(alice.History(room, "?limit=100").Messages); got != 6 {
		t.Errorf("history after refusals: got %d messages, want 6 (nothing refused was stored)", got)
	}
}
