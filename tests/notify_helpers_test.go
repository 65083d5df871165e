package tests

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers/webhook"
)

// notification is a webhook body as a receiver decodes it.
type notification struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	RoomID    string          `json:"room_id"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// mentioned decodes the data of a message.mentioned.
func (n notification) mentioned(t testing.TB) api.MessageMentionedData {
	t.Helper()
	var d api.MessageMentionedData
	if err := json.Unmarshal(n.Data, &d); err != nil {
		t.Fatalf("message.mentioned data %s: %v", n.Data, err)
	}
	return d
}

// receiver is a webhook receiver, as an integrator writes one: it checks
// each body's signature with the shared secret (refusing a bad one with
// 401), and answers 503 while down.
type receiver struct {
	t      testing.TB
	secret []byte
	srv    *httptest.Server
	mu     sync.Mutex
	down   bool
	got    []notification // every accepted POST, repeats included
	count  map[string]int // POSTs accepted per id
	forged int            // POSTs with a bad signature
	delay  time.Duration  // how long each answer takes
}

// webhookSecret is the secret of the tests' webhooks.
const webhookSecret = "webhook-test-secret-0123456789abcdef"

// newReceiver starts a receiver, on addr when it is not empty (a port the
// server was told of before the receiver was up).
func newReceiver(t testing.TB, addr string) *receiver {
	r := &receiver{t: t, secret: []byte(webhookSecret), count: map[string]int{}}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	if addr != "" {
		r.srv.Listener.Close()
		r.srv.Listener = listenAgain(t, addr)
	}
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

// options are the webhook options of a test server posting to r: short
// delays, so that retries take milliseconds.
func (r *receiver) options() webhook.Options {
	return webhook.Options{URL: r.srv.URL, Secret: r.secret, RetryBase: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		Poll: 100 * time.Millisecond}
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	m := hmac.New(sha256.New, r.secret)
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	r.mu.Lock()
	delay, down := r.delay, r.down
	ok := hmac.Equal([]byte(req.Header.Get("X-Chat-Signature")), []byte(want))
	if !ok {
		r.forged++
	}
	r.mu.Unlock()
	time.Sleep(delay)
	switch {
	case !ok:
		w.WriteHeader(http.StatusUnauthorized)
		return
	case down:
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var n notification
	if err := json.Unmarshal(body, &n); err != nil || n.ID == "" {
		r.t.Errorf("webhook body %s: %v", body, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.got = append(r.got, n)
	r.count[n.ID]++
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) setDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

// wait returns the distinct notifications once n have arrived, in order of
// arrival, failing the test after timeout.
func (r *receiver) wait(n int, timeout time.Duration) []notification {
	r.t.Helper()
	var out []notification
	waitFor(r.t, timeout, "notifications", func() bool {
		out = r.distinct()
		return len(out) >= n
	})
	return out
}

// distinct is every notification received, once per id.
func (r *receiver) distinct() []notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []notification
	for _, n := range r.got {
		if !seen[n.ID] {
			seen[n.ID] = true
			out = append(out, n)
		}
	}
	return out
}

// repeats lists the ids received more than once.
func (r *receiver) repeats() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for id, c := range r.count {
		if c > 1 {
			out[id] = c
		}
	}
	return out
}

// freeAddr is a local address nothing listens on: a receiver that is down.
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
