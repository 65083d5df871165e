package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers"
)

// The spec cannot lie: the harness hands every response it receives to
// checkSpec, which validates it against the OpenAPI 3 document the server
// serves (kin-openapi's openapi3filter): status, documented headers, media
// type and body. A status the operation does not list, a body that does not
// match its schema, or a field the schema does not name fails the test.

// specDoc is the OpenAPI document as the checks use it.
type specDoc struct {
	doc    *openapi3.T
	router routers.Router
}

// loadSpec parses /openapi.json once per test binary. Its copy of the
// document is stricter than the served one: objects allow no undocumented
// properties, so a field the server sends but the spec leaves out fails. (The
// served document stays open, so clients tolerate fields added later.)
var loadSpec = sync.OnceValues(func() (*specDoc, error) {
	b, err := handlers.OpenAPI()
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	closed := false
	for _, s := range doc.Components.Schemas {
		if s.Value != nil && s.Value.Type.Is(openapi3.TypeObject) && s.Value.AdditionalProperties.Schema == nil {
			s.Value.AdditionalProperties.Has = &closed
		}
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &specDoc{doc: doc, router: router}, nil
})

// checkSpec validates one response against the spec. stream is true for a
// 200 event stream, whose body never ends: then only the status, headers and
// media type are checked. It reports with t.Errorf, so it is safe from any
// goroutine.
func checkSpec(t testing.TB, req *http.Request, status int, header http.Header, body []byte, stream bool) {
	t.Helper()
	spec, err := loadSpec()
	if err != nil {
		t.Errorf("spec check: the OpenAPI document does not load: %v", err)
		return
	}
	what := req.Method + " " + req.URL.RequestURI()
	route, params, err := spec.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrMethodNotAllowed):
		spec.problem(t, what, status, http.StatusMethodNotAllowed, header, body)
		return
	case err != nil: // no operation has this path
		if strings.HasPrefix(req.URL.Path, "/api/") || status == http.StatusNotFound {
			spec.problem(t, what, status, http.StatusNotFound, header, body)
		}
		return // /healthz, /metrics, /swagger/…, the demo page: outside the API document
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: stream, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("spec check: %s answered %d, which the spec does not describe: %v\nbody: %.400s", what, status, err, body)
		return
	}
	if stream {
		ct := header.Get("Content-Type")
		if r := route.Operation.Responses.Status(status); r == nil || r.Value.Content.Get(ct) == nil {
			t.Errorf("spec check: %s answered %d with Content-Type %q, which the spec does not describe", what, status, ct)
		}
	}
}

// problem checks an answer that no operation describes: it must be the
// problem document with the given status.
func (s *specDoc) problem(t testing.TB, what string, status, want int, header http.Header, body []byte) {
	t.Helper()
	if status != want {
		t.Errorf("spec check: %s matches no operation of the spec, so it must be a %d problem, got %d: %.400s", what, want, status, body)
		return
	}
	if ct := header.Get("Content-Type"); ct != api.ProblemContentType {
		t.Errorf("spec check: %s: %d with Content-Type %q, want %q", what, status, ct, api.ProblemContentType)
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("spec check: %s: problem body is not JSON: %v", what, err)
		return
	}
	if err := s.doc.Components.Schemas["api.Problem"].Value.VisitJSON(v); err != nil {
		t.Errorf("spec check: %s: problem body does not match api.Problem: %v", what, err)
	}
}
