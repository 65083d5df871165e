package identity

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/models"
)

// appwriteStandIn answers GET /v1/account as Appwrite documents it: the User
// model for a good JWT, 401 user_jwt_invalid for a bad one. mode switches it
// to slow or failing.
type appwriteStandIn struct {
	*httptest.Server
	mu    sync.Mutex
	users map[string]map[string]any // JWT → account
	mode  string                    // "", "slow", "fail"
	calls atomic.Int64
}

func newAppwriteStandIn(t *testing.T) *appwriteStandIn {
	a := &appwriteStandIn{users: map[string]map[string]any{}}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

func (a *appwriteStandIn) serve(w http.ResponseWriter, r *http.Request) {
	a.calls.Add(1)
	a.mu.Lock()
	mode, user := a.mode, a.users[r.Header.Get("X-Appwrite-JWT")]
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method != http.MethodGet || r.URL.Path != "/v1/account":
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"message":"Route not found.","code":404,"type":"general_route_not_found","version":"1.6.0"}`))
	case mode == "slow":
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	case mode == "fail":
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"message":"Server Error","code":500,"type":"general_unknown","version":"1.6.0"}`))
	case r.Header.Get("X-Appwrite-Project") != "resonate":
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"message":"Project with the requested ID could not be found.","code":404,"type":"project_not_found","version":"1.6.0"}`))
	case user == nil:
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"Failed to verify JWT. Invalid token: Incorrect signature","code":401,"type":"user_jwt_invalid","version":"1.6.0"}`))
	default:
		_ = json.NewEncoder(w).Encode(user)
	}
}

func (a *appwriteStandIn) setMode(m string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mode = m
}

// issue returns a JWT as account.createJWT() makes one, and registers the
// account it belongs to.
func (a *appwriteStandIn) issue(t *testing.T, id, name string, ttl time.Duration, labels ...string) string {
	t.Helper()
	c := jwt.MapClaims{"userId": id, "sessionId": "s-" + id, "exp": time.Now().Add(ttl).Unix()}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte("appwrite-project-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if labels == nil {
		labels = []string{}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.users[tok] = map[string]any{"$id": id, "$createdAt": "2026-01-01T10:00:00.000+00:00", "$updatedAt": "2026-01-01T10:00:00.000+00:00",
		"name": name, "registration": "2026-01-01T10:00:00.000+00:00", "status": true, "labels": labels,
		"passwordUpdate": "", "email": id + "@example.com", "phone": "", "emailVerification": true,
		"phoneVerification": false, "mfa": false, "prefs": map[string]any{}, "targets": []any{}, "accessedAt": "2026-01-01T10:00:00.000+00:00"}
	return tok
}

func (a *appwriteStandIn) block(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.users[token]["status"] = false
}

func newTestAppwrite(a *appwriteStandIn) *Appwrite {
	return NewAppwrite(AppwriteOptions{Endpoint: a.URL + "/v1/", Project: "resonate", Timeout: 200 * time.Millisecond})
}

func TestAppwriteVerify(t *testing.T) {
	t.Parallel()
	a := newAppwriteStandIn(t)
	v := newTestAppwrite(a)
	ctx := context.Background()
	tok := a.issue(t, "65f1c0ffee", "Alice", 15*time.Minute)
	admin := a.issue(t, "65f1admin", "Root", 15*time.Minute, "admin")
	blocked := a.issue(t, "65f1blocked", "Eve", 15*time.Minute)
	a.block(blocked)
	unknown := (&appwriteStandIn{users: map[string]map[string]any{}}).issue(t, "65f1forged", "Mallory", 15*time.Minute)
	chatToken, _ := NewHS256([]byte("a-secret-of-at-least-32-characters!")).Sign("alice", "Alice", false, time.Hour)
	expired := a.issue(t, "65f1old", "Old", -time.Hour)

	id, err := v.Verify(ctx, tok, nil)
	if err != nil {
		t.Fatalf("good JWT: %v", err)
	}
	if id.Actor != (models.Actor{UserID: "65f1c0ffee", Name: "Alice"}) || time.Until(id.Expires) < 14*time.Minute {
		t.Fatalf("got %+v, want $id, name and the JWT's expiry", id)
	}
	if _, err := v.Verify(ctx, tok, nil); err != nil || a.calls.Load() != 1 {
		t.Fatalf("second use: err %v, %d calls to Appwrite; want a cache hit", err, a.calls.Load())
	}
	if id, err := v.Verify(ctx, admin, nil); err != nil || !id.Actor.Admin {
		t.Fatalf("admin label: got %+v, %v; want an admin", id, err)
	}
	for name, token := range map[string]string{"unknown to Appwrite": unknown, "blocked account": blocked} {
		if _, err := v.Verify(ctx, token, nil); !errors.Is(err, models.ErrUnauthorized) {
			t.Errorf("%s: got %v, want ErrUnauthorized", name, err)
		}
	}
	calls := a.calls.Load()
	for name, token := range map[string]string{"chat HS256 token": chatToken, "expired": expired, "garbage": "abc"} {
		if _, err := v.Verify(ctx, token, nil); !errors.Is(err, models.ErrUnauthorized) {
			t.Errorf("%s: got %v, want ErrUnauthorized", name, err)
		}
	}
	if got := a.calls.Load() - calls; got != 0 {
		t.Fatalf("tokens that are not live Appwrite JWTs reached Appwrite %d times, want 0", got)
	}
}

func TestAppwriteUnavailable(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"slow", "fail"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			a := newAppwriteStandIn(t)
			v := newTestAppwrite(a)
			tok := a.issue(t, "65f1c0ffee", "Alice", 15*time.Minute)
			a.setMode(mode)
			start := time.Now()
			if _, err := v.Verify(context.Background(), tok, nil); !errors.Is(err, models.ErrUnavailable) {
				t.Fatalf("got %v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %s; the timeout is 200ms", d)
			}
			a.setMode("")
			if _, err := v.Verify(context.Background(), tok, nil); err != nil {
				t.Fatalf("after recovery: %v (a failure must not be cached)", err)
			}
		})
	}
	t.Run("wrong project", func(t *testing.T) {
		t.Parallel()
		a := newAppwriteStandIn(t)
		v := NewAppwrite(AppwriteOptions{Endpoint: a.URL + "/v1", Project: "typo"})
		if _, err := v.Verify(context.Background(), a.issue(t, "u1", "U", time.Minute), nil); !errors.Is(err, models.ErrUnavailable) {
			t.Fatalf("misconfigured project: got %v, want ErrUnavailable, never a pass or a 401", err)
		}
	})
}

func TestAppwriteCacheLifetime(t *testing.T) {
	t.Parallel()
	a := newAppwriteStandIn(t)
	v := newTestAppwrite(a)
	t0 := time.Now()
	now := t0
	v.now = func() time.Time { return now }
	short := a.issue(t, "u-short", "S", 10*time.Minute)
	long := a.issue(t, "u-long", "L", 2*time.Hour) // longer than Appwrite issues; the cache caps it
	for _, tok := range []string{short, long} {
		if _, err := v.Verify(context.Background(), tok, nil); err != nil {
			t.Fatal(err)
		}
	}
	now = t0.Add(9 * time.Minute)
	for _, tok := range []string{short, long} {
		_, _ = v.Verify(context.Background(), tok, nil)
	}
	if got := a.calls.Load(); got != 2 {
		t.Fatalf("within both lifetimes: %d calls, want 2", got)
	}
	now = t0.Add(10*time.Minute + 10*time.Second) // past short's exp, within the leeway
	_, _ = v.Verify(context.Background(), short, nil)
	if got := a.calls.Load(); got != 3 {
		t.Fatalf("after exp: %d calls, want 3 (asked again)", got)
	}
	now = t0.Add(16 * time.Minute) // past the 15-minute cap
	if _, err := v.Verify(context.Background(), long, nil); err != nil {
		t.Fatal(err)
	}
	if got := a.calls.Load(); got != 4 {
		t.Fatalf("after the cap: %d calls, want 4 (asked again)", got)
	}
}
