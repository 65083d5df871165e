package stream

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The takeover is only for plain HTTP/1.1 where the hang-up watcher works;
// every other request gets net/http's response, with the stream's headers.
func TestConnectChoosesTheStandardTransport(t *testing.T) {
	t.Parallel()
	h2 := httptest.NewRequest("GET", "/", nil)
	h2.ProtoMajor, h2.ProtoMinor = 2, 0
	overTLS := httptest.NewRequest("GET", "/", nil)
	overTLS.TLS = &tls.ConnectionState{}
	for _, tc := range []struct {
		name      string
		r         *http.Request
		transport Transport
	}{
		{"HTTP/2", h2, Auto},
		{"TLS", overTLS, Auto},
		{"forced", httptest.NewRequest("GET", "/", nil), Standard},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Deps{Options: Options{Transport: tc.transport}})
			w := httptest.NewRecorder()
			out, err := s.connect(w, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := out.(*standard); !ok {
				t.Fatalf("transport %T, want *standard", out)
			}
			if err := out.write([]byte("retry: 1\n\n")); err != nil {
				t.Fatal(err)
			}
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/event-stream" || w.Body.String() != "retry: 1\n\n" || !w.Flushed {
				t.Fatalf("got %d %q %q (flushed %v), want 200 text/event-stream, the frame, flushed", w.Code, w.Header().Get("Content-Type"), w.Body.String(), w.Flushed)
			}
		})
	}
}
