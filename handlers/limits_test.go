package handlers

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/models"
)

// clock is a settable time for the auth guard.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestAuthGuardBucket(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	g := newAuthGuard(models.Rate{Count: 3, Per: 30 * time.Second}, c.now)
	for i := 0; i < 3; i++ {
		if w := g.wait("192.0.2.1"); w != 0 {
			t.Fatalf("failure %d: wait %s, want 0 (the budget is 3)", i, w)
		}
		g.spend("192.0.2.1")
	}
	if w := g.wait("192.0.2.1"); w != 10*time.Second {
		t.Fatalf("after 3 failures: wait %s, want 10s (one failure earned back per 30s/3)", w)
	}
	if w := g.wait("192.0.2.2"); w != 0 {
		t.Fatalf("another address: wait %s, want 0", w)
	}
	c.advance(4 * time.Second)
	if w := g.wait("192.0.2.1"); w != 6*time.Second {
		t.Fatalf("4 s later: wait %s, want 6s", w)
	}
	c.advance(6 * time.Second)
	if w := g.wait("192.0.2.1"); w != 0 {
		t.Fatalf("10 s later: wait %s, want 0", w)
	}
	// A full bucket is forgotten at the next sweep.
	c.advance(time.Minute)
	g.spend("192.0.2.3")
	if _, ok := g.buckets["192.0.2.1"]; ok {
		t.Fatal("an address whose bucket refilled is still tracked after a sweep")
	}
	if off := newAuthGuard(models.Rate{}, nil); off.wait("x") != 0 {
		t.Fatal("a zero rate limits")
	}
	var none *authGuard
	none.spend("x")
	if none.wait("x") != 0 {
		t.Fatal("a nil guard limits")
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ remote, want string }{
		{"192.0.2.7:5000", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:5000", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:5000", "192.0.2.7"},
	} {
		ctx, _ := gin.CreateTestContext(httptest.NewRecorder())
		ctx.Request = httptest.NewRequest("GET", "/", nil)
		ctx.Request.RemoteAddr = c.remote
		if got := clientKey(ctx); got != c.want {
			t.Errorf("clientKey(%s) = %q, want %q", c.remote, got, c.want)
		}
	}
}

// FuzzCredentials: a request carries exactly one credential, a bearer token
// from a well-formed header or a ticket on the stream route, and a token in
// the query string is always refused.
func FuzzCredentials(f *testing.F) {
	for _, s := range [][3]string{
		{"Bearer eyJ.a.b", "", ""}, {"", "ticket=eyJ.t.s", "1"}, {"Bearer ", "", ""}, {"bearer x", "", ""},
		{"Basic YTpi", "", ""}, {"Bearer x", "token=y", ""}, {"", "access_token=y&ticket=z", "1"},
		{"Bearer  spaced ", "", ""}, {"", "ticket=", "1"}, {"", "ticket=a&ticket=b", "1"}, {"", "ticket=x", ""},
	} {
		f.Add(s[0], s[1], s[2] == "1")
	}
	f.Fuzz(func(t *testing.T, header, rawQuery string, stream bool) {
		q, _ := url.ParseQuery(rawQuery)
		token, ticket, err := credentials(header, q, stream)
		if err != nil {
			if !errors.Is(err, models.ErrUnauthorized) || token != "" || ticket != "" {
				t.Fatalf("credentials(%q, %q): %q %q %v; a refusal must be unauthorized and carry nothing", header, rawQuery, token, ticket, err)
			}
			return
		}
		if q.Has("token") || q.Has("access_token") {
			t.Fatalf("credentials(%q, %q): accepted a token in the query string", header, rawQuery)
		}
		if (token == "") == (ticket == "") {
			t.Fatalf("credentials(%q, %q): token %q ticket %q; want exactly one", header, rawQuery, token, ticket)
		}
		scheme, rest, _ := strings.Cut(header, " ")
		if token != "" && (!strings.EqualFold(scheme, "Bearer") || token != strings.TrimSpace(rest)) {
			t.Fatalf("credentials(%q): token %q is not the header's", header, token)
		}
		if ticket != "" && (!stream || header != "" || ticket != q.Get("ticket")) {
			t.Fatalf("credentials(%q, %q, stream=%v): ticket %q", header, rawQuery, stream, ticket)
		}
	})
}
