package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers"
)

// TestOpenAPIServed: /openapi.json is a valid OpenAPI 3.0 document, the one
// the server converted at start.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	resp, err := http.Get(s.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %q, want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want, _ := handlers.OpenAPI()
	if !bytes.Equal(body, want) {
		t.Fatal("/openapi.json differs from handlers.OpenAPI()")
	}
	doc, err := openapi3.NewLoader().LoadFromData(body)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Errorf("openapi = %q, want 3.0.x", doc.OpenAPI)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/api/v1" {
		t.Errorf("servers = %v, want one, /api/v1", doc.Servers)
	}
}

// TestOpenAPIDescribesTheContract checks what integrators and moderators in
// Swagger UI rely on, for every operation: a summary, who may call it,
// the Bearer scheme, examples in request bodies, and every error response as
// a problem document that names its codes.
func TestOpenAPIDescribesTheContract(t *testing.T) {
	t.Parallel()
	spec, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	doc := spec.doc
	bearer := doc.Components.SecuritySchemes["Bearer"]
	if bearer == nil || bearer.Value.Type != "http" || bearer.Value.Scheme != "bearer" {
		t.Errorf("security scheme Bearer = %+v, want http bearer", bearer)
	}
	codes := problemCodes(t, doc)
	ops := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops++
			name := method + " " + path
			if op.Summary == "" || op.Description == "" {
				t.Errorf("%s: summary %q, description %q: both are needed", name, op.Summary, op.Description)
			}
			if op.Security == nil || len(*op.Security) != 1 || (*op.Security)[0]["Bearer"] == nil {
				t.Errorf("%s: security %v, want Bearer", name, op.Security)
			}
			if rb := op.RequestBody; rb != nil && !hasExample(rb.Value.Content.Get("application/json").Schema.Value) {
				t.Errorf("%s: the request body has no example", name)
			}
			for _, status := range []string{"400", "401", "429", "503"} {
				if op.Responses.Value(status) == nil {
					t.Errorf("%s: no %s response", name, status)
				}
			}
			checkResponses(t, name, op, codes)
		}
	}
	if ops < 21 {
		t.Errorf("%d operations, want every endpoint of the contract (21)", ops)
	}
}

func problemCodes(t *testing.T, doc *openapi3.T) []string {
	t.Helper()
	p := doc.Components.Schemas["api.Problem"].Value
	var codes []string
	for _, c := range p.Properties["code"].Value.Enum {
		codes = append(codes, fmt.Sprint(c))
	}
	for _, f := range []string{"type", "title", "status", "detail", "code"} {
		if !slices.Contains(p.Required, f) {
			t.Errorf("api.Problem: %s is not required", f)
		}
	}
	return codes
}

func checkResponses(t *testing.T, name string, op *openapi3.Operation, codes []string) {
	t.Helper()
	for status, r := range op.Responses.Map() {
		if status < "400" {
			continue
		}
		mt := r.Value.Content[api.ProblemContentType]
		if len(r.Value.Content) != 1 || mt == nil || mt.Schema.Ref != "#/components/schemas/api.Problem" {
			t.Errorf("%s %s: content %v, want only %s with api.Problem", name, status, keys(r.Value.Content), api.ProblemContentType)
		}
		if (status == "429" || status == "503") && r.Value.Headers["Retry-After"] == nil {
			t.Errorf("%s %s: Retry-After is not documented", name, status)
		}
		desc := *r.Value.Description
		if !slices.ContainsFunc(codes, func(c string) bool { return strings.Contains(desc, c) }) {
			t.Errorf("%s %s: description %q names no error code", name, status, desc)
		}
	}
}

func keys(c openapi3.Content) []string {
	var out []string
	for k := range c {
		out = append(out, k)
	}
	return out
}

func hasExample(s *openapi3.Schema) bool {
	if s.Example != nil {
		return true
	}
	for _, p := range s.Properties {
		if p.Value.Example != nil {
			return true
		}
	}
	return false
}

// TestOpenAPINullableAndRequired: pointer fields are nullable and present;
// generators give integrators non-optional fields that may be null.
func TestOpenAPINullableAndRequired(t *testing.T) {
	t.Parallel()
	spec, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		"api.RoomMessage":  {"edited_at", "reply_to", "client_id"},
		"api.Participant":  {"muted_until"},
		"api.ChatSettings": {"locked_until"},
		"api.Ban":          {"until", "reason"},
		"api.Me":           {"role", "reason", "muted_until", "banned_until", "locked_until"},
		"api.LogEntry":     {"target_id", "message_id", "reason", "until"},
	}
	for name, fields := range cases {
		s := spec.doc.Components.Schemas[name].Value
		for _, f := range fields {
			if p := s.Properties[f]; p == nil || !p.Value.Nullable {
				t.Errorf("%s.%s is not nullable", name, f)
			}
			if _, ok := s.Properties[f].Value.Extensions["x-nullable"]; ok {
				t.Errorf("%s.%s still has x-nullable", name, f)
			}
		}
		for f := range s.Properties {
			if !slices.Contains(s.Required, f) {
				t.Errorf("%s.%s is not required: every response field is always present", name, f)
			}
		}
	}
}

// TestOpenAPIStreamDocumented: the stream names its resume points and its
// ticket, and points to the event reference.
func TestOpenAPIStreamDocumented(t *testing.T) {
	t.Parallel()
	spec, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	op := spec.doc.Paths.Value("/rooms/{room}/events").Get
	for _, p := range []struct{ in, name string }{{"header", "Last-Event-ID"}, {"query", "last_event_id"}, {"query", "ticket"}} {
		if op.Parameters.GetByInAndName(p.in, p.name) == nil {
			t.Errorf("the stream does not document %s %s", p.in, p.name)
		}
	}
	if !strings.Contains(op.Description, "docs/EVENTS.md") {
		t.Error("the stream's description does not point to docs/EVENTS.md")
	}
	if op.Responses.Status(200).Value.Content.Get("text/event-stream") == nil {
		t.Error("the stream's 200 is not text/event-stream")
	}
}

// errorsTB records what a spec check reports instead of failing the test.
type errorsTB struct {
	testing.TB
	errs []string
}

func (e *errorsTB) Helper() {}
func (e *errorsTB) Errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}

// TestOpenAPISpecCheckCatchesLies proves the harness's check is not a
// formality: undescribed statuses, missing or extra fields, wrong media
// types and stray paths fail.
func TestOpenAPISpecCheckCatchesLies(t *testing.T) {
	t.Parallel()
	room := `{"id":"r","name":"R","owner_id":"a","created_at":"2026-11-25T09:00:00.000000Z","chat":{"locked_until":null,"slow_mode_seconds":0},"participant_count":1,"pinned":null}`
	problem := `{"type":"about:blank","title":"Not Found","status":404,"detail":"no such room","code":"not_found"}`
	cases := []struct {
		name, method, path string
		status             int
		ctype, body        string
		ok                 bool
	}{
		{"a true room", "GET", "/api/v1/rooms/r", 200, "application/json", room, true},
		{"a true problem", "GET", "/api/v1/rooms/r", 404, api.ProblemContentType, problem, true},
		{"an unknown path's problem", "GET", "/api/v1/nope", 404, api.ProblemContentType, problem, true},
		{"undescribed status", "GET", "/api/v1/rooms/r", 418, api.ProblemContentType, problem, false},
		{"missing field", "GET", "/api/v1/rooms/r", 200, "application/json", strings.Replace(room, `"owner_id":"a",`, "", 1), false},
		{"extra field", "GET", "/api/v1/rooms/r", 200, "application/json", strings.Replace(room, `{"id"`, `{"secret":1,"id"`, 1), false},
		{"null in a non-null field", "GET", "/api/v1/rooms/r", 200, "application/json", strings.Replace(room, `"name":"R"`, `"name":null`, 1), false},
		{"a pinned message that is not one", "GET", "/api/v1/rooms/r", 200, "application/json", strings.Replace(room, `"pinned":null`, `"pinned":{"id":"m"}`, 1), false},
		{"problem as plain JSON", "GET", "/api/v1/rooms/r", 404, "application/json", problem, false},
		{"unknown code", "GET", "/api/v1/rooms/r", 404, api.ProblemContentType, strings.Replace(problem, "not_found", "oops", 1), false},
		{"unknown path answered 200", "GET", "/api/v1/nope", 200, "application/json", `{}`, false},
		{"method not allowed as 404", "PUT", "/api/v1/rooms/r/messages", 404, api.ProblemContentType, problem, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &errorsTB{TB: t}
			req := httptest.NewRequest(c.method, "http://127.0.0.1:1"+c.path, nil)
			h := http.Header{"Content-Type": {c.ctype}}
			checkSpec(rec, req, c.status, h, []byte(c.body), false)
			if got := len(rec.errs) == 0; got != c.ok {
				t.Errorf("passed = %v, want %v; errors: %v", got, c.ok, rec.errs)
			}
		})
	}
}
