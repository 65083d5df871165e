package tests

import (
	"bytes"
	"net/http"
	"regexp"
	"testing"
)

// goWords are what a detail written by Go's decoder gives away: type names
// and the phrasing around them. An API user knows none of them.
var goWords = regexp.MustCompile(`of type|\b(u?int(8|16|32|64)?|float(32|64)|bool|struct|interface)\b|map\[|\[\]|\*|json: |Go `)

// TestErrorsDetailsForPeople: a detail is written for the API's users, in
// the API's words, and reaches them as written: a wrong type says what the
// field must hold ("a whole number of seconds", not "int64"), and "<token>"
// arrives as "<token>", not as the HTML-escaped "\u003ctoken\u003e".
func TestErrorsDetailsForPeople(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	base := "/api/v1/rooms/" + room
	cases := []struct {
		name, method, path, body, auth string
		status                         int
		code, detail                   string
	}{
		{"mute for 10m", "PUT", base + "/mutes/bob", `{"duration_seconds":"10m"}`, "", 400, "invalid",
			"duration_seconds must be a whole number of seconds"},
		{"mute for 1.5 s", "PUT", base + "/mutes/bob", `{"duration_seconds":1.5}`, "", 400, "invalid",
			"duration_seconds must be a whole number of seconds"},
		{"mute for ever", "PUT", base + "/mutes/bob", `{"duration_seconds":123456789012345678901234567890}`, "", 400, "invalid",
			"duration_seconds is out of range"},
		{"ban for 1d", "PUT", base + "/bans/bob", `{"duration_seconds":"1d"}`, "", 400, "invalid",
			"duration_seconds must be a whole number of seconds"},
		{"slow mode yes", "PATCH", base + "/chat", `{"slow_mode_seconds":true}`, "", 400, "invalid",
			"slow_mode_seconds must be a whole number of seconds"},
		{"client_id a number", "POST", base + "/messages", `{"content":"hi","client_id":5}`, "", 400, "invalid",
			"client_id must be a string"},
		{"reason a list", "PUT", base + "/mutes/bob", `{"duration_seconds":60,"reason":["spam"]}`, "", 400, "invalid",
			"reason must be a string"},
		{"role an object", "PUT", base + "/participants/bob/role", `{"role":{}}`, "", 400, "invalid",
			"role must be a string"},
		{"basic scheme", "GET", base, "", "Basic YWxpY2U6c2VjcmV0", 401, "unauthorized",
			`Authorization must be "Bearer <token>"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.body != "" {
				body = c.body
			}
			headers := []string{}
			if c.auth != "" {
				headers = append(headers, "Authorization", c.auth)
			}
			r := alice.Do(c.method, c.path, body, headers...)
			p := coreProblem(t, r, c.status, c.code)
			if p.Detail != c.detail {
				t.Errorf("detail: got %q, want %q", p.Detail, c.detail)
			}
			if goWords.MatchString(p.Detail) {
				t.Errorf("detail %q speaks Go to an API user", p.Detail)
			}
			if bytes.Contains(r.Body, []byte(`\u003c`)) || bytes.Contains(r.Body, []byte(`\u003e`)) || bytes.Contains(r.Body, []byte(`\u0026`)) {
				t.Errorf("body %s is HTML-escaped; want the detail as written", r.Body)
			}
		})
	}
	if got := alice.Do("GET", base+"/bans", nil); got.Status != http.StatusOK || !bytes.Contains(got.Body, []byte(`"bans":[]`)) {
		t.Errorf("bans after refusals: got %d %s, want none", got.Status, got.Body)
	}
}
