package tests

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/resonate/resonate-chat/api"
)

// getRaw fetches path without following redirects.
func getRaw(t *testing.T, s *Server, path string) *Response {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// TestSwaggerAuthorizeWording: the two documents each say how to authorize
// with them. Swagger UI on the Swagger 2.0 document sends what is typed (an
// apiKey), so it needs "Bearer <token>"; the OpenAPI 3 document's bearer
// scheme takes the token alone. Neither says the other's rule.
func TestSwaggerAuthorizeWording(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})

	var v2 struct {
		Info                struct{ Description string }
		SecurityDefinitions map[string]struct{ Description string }
	}
	r := getRaw(t, s, "/swagger/doc.json")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /swagger/doc.json: %d", r.Status)
	}
	r.JSON(t, &v2)
	var v3 struct {
		Info       struct{ Description string }
		Components struct {
			SecuritySchemes map[string]struct{ Description, Scheme string }
		}
	}
	r = getRaw(t, s, "/openapi.json")
	if r.Status != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d", r.Status)
	}
	r.JSON(t, &v3)
	if bytes.Contains(r.Body, []byte(`\u003c`)) {
		t.Error("/openapi.json is HTML-escaped: <token> reads as \\u003ctoken\\u003e")
	}

	const withPrefix, alone = "enter `Bearer <token>`", "without a \"Bearer \" prefix"
	for _, c := range []struct{ doc, text, want, not string }{
		{"Swagger 2.0 info", v2.Info.Description, withPrefix, "alone"},
		{"Swagger 2.0 Bearer scheme", v2.SecurityDefinitions["Bearer"].Description, "Enter `Bearer <token>`", "alone"},
		{"OpenAPI 3 info", v3.Info.Description, "the token alone", withPrefix},
		{"OpenAPI 3 Bearer scheme", v3.Components.SecuritySchemes["Bearer"].Description, alone, withPrefix},
	} {
		if !strings.Contains(c.text, c.want) || strings.Contains(c.text, c.not) {
			t.Errorf("%s: %q, want it to say %q and not %q", c.doc, c.text, c.want, c.not)
		}
	}
	if got := v3.Components.SecuritySchemes["Bearer"].Scheme; got != "bearer" {
		t.Errorf("OpenAPI 3 Bearer scheme: %q, want bearer", got)
	}
}

// TestSwaggerPathsAndNotFound: /swagger and /swagger/ lead to Swagger UI, and
// every 404 (an unknown path anywhere, Swagger UI's included) is a problem
// document.
func TestSwaggerPathsAndNotFound(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	for _, path := range []string{"/swagger/", "/swagger"} {
		r := getRaw(t, s, path)
		if loc := r.Header.Get("Location"); r.Status/100 != 3 || loc != "/swagger/index.html" {
			t.Errorf("GET %s: %d to %q, want a redirect to /swagger/index.html", path, r.Status, loc)
		}
	}
	for _, path := range []string{"/swagger/index.html", "/swagger/doc.json", "/swagger/swagger-ui.css", "/swagger/swagger-ui-bundle.js"} {
		if r := getRaw(t, s, path); r.Status != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", path, r.Status)
		}
	}
	for _, path := range []string{
		"/swagger/nope", "/swagger/index.htm", "/swagger/x/index.html", "/swagger//index.html",
		"/nope", "/api/v1/nope", "/api/v1/rooms/r/nope", "/app.js/more", "/dev/token",
	} {
		r := getRaw(t, s, path)
		if r.Status != http.StatusNotFound || r.Header.Get("Content-Type") != api.ProblemContentType {
			t.Errorf("GET %s: %d %q %s, want 404 %s", path, r.Status, r.Header.Get("Content-Type"), r.Body, api.ProblemContentType)
			continue
		}
		var p api.Problem
		if err := json.Unmarshal(r.Body, &p); err != nil || p.Code != "not_found" || p.Status != 404 {
			t.Errorf("GET %s: problem %s (%v), want code not_found", path, r.Body, err)
		}
	}
	// The UI still works after those: the first request does not fix its base.
	if r := getRaw(t, s, "/swagger/swagger-ui.css"); r.Status != http.StatusOK {
		t.Errorf("GET /swagger/swagger-ui.css after the 404s: %d, want 200", r.Status)
	}
}

// TestOpenAPIExamplesConsistent: the examples of GET /me describe one
// possible answer: can_post is false exactly when a reason is given, the
// reason is an error code, and the time and wait that go with it are there.
func TestOpenAPIExamplesConsistent(t *testing.T) {
	t.Parallel()
	spec, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	props := spec.doc.Components.Schemas["api.Me"].Value.Properties
	ex := func(name string) any {
		if p := props[name]; p != nil {
			return p.Value.Example
		}
		return nil
	}
	canPost, ok := ex("can_post").(bool)
	if !ok {
		t.Fatalf("api.Me.can_post example: %v, want true or false (viewers show true when there is none)", ex("can_post"))
	}
	reason, _ := ex("reason").(string)
	if canPost == (reason != "") {
		t.Errorf("api.Me example: can_post %v with reason %q; a reason comes exactly when can_post is false", canPost, reason)
	}
	if reason == "" {
		return
	}
	codes := problemCodes(t, spec.doc)
	if !strings.Contains(strings.Join(codes, " "), reason) {
		t.Errorf("api.Me example reason %q is not an error code (%v)", reason, codes)
	}
	until := map[string]string{"muted": "muted_until", "banned": "banned_until", "chat_locked": "locked_until"}[reason]
	if until != "" && ex(until) == nil {
		t.Errorf("api.Me example: reason %q without a %s example", reason, until)
	}
	if wait, _ := ex("retry_after_seconds").(float64); (reason == "muted" || reason == "chat_locked" || reason == "rate_limited") && wait <= 0 {
		t.Errorf("api.Me example: reason %q with retry_after_seconds %v; a mute, lock or limit has a wait", reason, ex("retry_after_seconds"))
	}
}
