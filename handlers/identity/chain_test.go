package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/models"
)

// fakeVerifier answers every token the same way and counts its calls.
type fakeVerifier struct {
	id    *Identity
	err   error
	calls int
}

func (f *fakeVerifier) Verify(context.Context, string, *Cost) (*Identity, error) {
	f.calls++
	return f.id, f.err
}

func TestVerifierChain(t *testing.T) {
	t.Parallel()
	alice := &Identity{Actor: models.Actor{UserID: "alice"}}
	bob := &Identity{Actor: models.Actor{UserID: "bob"}}
	refuse := func(msg string) error { return models.WithDetail(models.ErrUnauthorized, "%s", msg) }
	down := models.WithDetail(models.ErrUnavailable, "provider down")
	tests := []struct {
		name      string
		chain     []*fakeVerifier
		wantUser  string
		wantErr   error
		wantCalls []int
		wantMsg   string
	}{
		{"first accepts", []*fakeVerifier{{id: alice}, {id: bob}}, "alice", nil, []int{1, 0}, ""},
		{"second accepts", []*fakeVerifier{{err: refuse("bad")}, {id: bob}}, "bob", nil, []int{1, 1}, ""},
		{"an outage before an acceptance", []*fakeVerifier{{err: down}, {id: bob}}, "bob", nil, []int{1, 1}, ""},
		{"none accept", []*fakeVerifier{{err: refuse("a")}, {err: refuse("b")}}, "", models.ErrUnauthorized, []int{1, 1}, "b"},
		{"the refusal of the one that knew the token wins", []*fakeVerifier{{err: refuse("expired")}, {err: notMine("not mine")}},
			"", models.ErrUnauthorized, []int{1, 1}, "expired"},
		{"an outage and refusals", []*fakeVerifier{{err: refuse("a")}, {err: down}, {err: refuse("c")}}, "", models.ErrUnavailable, []int{1, 1, 1}, ""},
		{"another error stops", []*fakeVerifier{{err: errors.New("boom")}, {id: bob}}, "", nil, []int{1, 0}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vs := make([]Verifier, len(tc.chain))
			for i, f := range tc.chain {
				vs[i] = f
			}
			id, err := NewChain(vs...).Verify(context.Background(), "token", nil)
			switch {
			case tc.wantUser != "" && (err != nil || id.Actor.UserID != tc.wantUser):
				t.Fatalf("got %+v, %v; want %s", id, err, tc.wantUser)
			case tc.wantUser == "" && tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("got %+v, %v; want %v", id, err, tc.wantErr)
			case tc.wantUser == "" && err == nil:
				t.Fatalf("got %+v, want an error", id)
			case tc.wantMsg != "" && err.Error() != tc.wantMsg:
				t.Fatalf("got error %q, want %q", err, tc.wantMsg)
			}
			for i, f := range tc.chain {
				if f.calls != tc.wantCalls[i] {
					t.Errorf("verifier %d called %d times, want %d", i, f.calls, tc.wantCalls[i])
				}
			}
		})
	}
}

func TestVerifierChainReady(t *testing.T) {
	t.Parallel()
	p := newProvider(t, testKey{kid: "k", alg: "ES256", key: ecKey(t)})
	p.set(500)
	j := NewJWKS(JWKSOptions{URL: p.URL})
	c := NewChain(NewHS256([]byte("a-secret-of-at-least-32-characters!")), j)
	if err := Ready(context.Background(), c); !errors.Is(err, models.ErrUnavailable) {
		t.Fatalf("before keys: got %v, want ErrUnavailable", err)
	}
	p.set(200, testKey{kid: "k", alg: "ES256", key: ecKey(t)})
	_ = j.refresh(context.Background())
	if err := Ready(context.Background(), c); err != nil {
		t.Fatalf("after keys: got %v, want ready", err)
	}
	if err := Ready(context.Background(), NewHS256([]byte("x"))); err != nil {
		t.Fatalf("HS256 alone: got %v, want ready", err)
	}
}

// TestCostlyWorkNeedsAllowance: with no allowance left, a verifier makes no
// call to its identity provider (and says so with ErrCostRefused), while
// every token it can check without one is checked as ever.
func TestCostlyWorkNeedsAllowance(t *testing.T) {
	t.Parallel()
	a := newAppwriteStandIn(t)
	aw := newTestAppwrite(a)
	cached := a.issue(t, "65f1cached", "Cached", 15*time.Minute)
	if _, err := aw.Verify(context.Background(), cached, &Cost{Allowed: true}); err != nil {
		t.Fatal(err)
	}
	k := testKey{kid: "known", alg: "ES256", key: ecKey(t)}
	p := newProvider(t, k)
	j := startJWKS(t, p, JWKSOptions{Refresh: time.Hour, MinRefresh: time.Millisecond})
	waitReady(t, j)
	secret := []byte("a-secret-of-at-least-32-characters!")
	hs, _ := NewHS256(secret).Sign("alice", "", false, time.Hour)
	chain := NewChain(NewHS256(secret), j, aw)
	unknownKid := testKey{kid: "unknown", alg: "ES256", key: k.key}.sign(t, claims("mallory", time.Hour))

	tests := []struct {
		name, token string
		wantUser    string // "" for a refusal
		wantErr     error
		wantSpent   bool
	}{
		{"the server's own token", hs, "alice", nil, false},
		{"a known OIDC key", k.sign(t, claims("bob", time.Hour)), "bob", nil, false},
		{"an Appwrite answer in the cache", cached, "65f1cached", nil, false},
		{"garbage", "Bearer-bad", "", models.ErrUnauthorized, false},
		{"an unknown kid", unknownKid, "", ErrCostRefused, true},
		{"an Appwrite JWT not seen before", a.issue(t, "65f1new", "New", 15*time.Minute), "", ErrCostRefused, true},
	}
	calls, fetches := a.calls.Load(), p.fetches.Load()
	for _, tt := range tests {
		cost := &Cost{Allowed: false}
		id, err := chain.Verify(context.Background(), tt.token, cost)
		switch {
		case tt.wantUser != "" && (err != nil || id.Actor.UserID != tt.wantUser):
			t.Errorf("%s: got %+v, %v; want %s accepted", tt.name, id, err, tt.wantUser)
		case tt.wantUser == "" && !errors.Is(err, tt.wantErr):
			t.Errorf("%s: got %+v, %v; want %v", tt.name, id, err, tt.wantErr)
		case cost.Spent != tt.wantSpent:
			t.Errorf("%s: Spent %v, want %v", tt.name, cost.Spent, tt.wantSpent)
		}
	}
	if a.calls.Load() != calls || p.fetches.Load() != fetches {
		t.Errorf("with no allowance: %d Appwrite calls and %d JWKS fetches, want none", a.calls.Load()-calls, p.fetches.Load()-fetches)
	}
	// With an allowance, the same tokens cost a call each and are refused.
	for _, tok := range []string{unknownKid, (&appwriteStandIn{users: map[string]map[string]any{}}).issue(t, "65f1forged", "F", time.Hour)} {
		cost := &Cost{Allowed: true}
		if _, err := chain.Verify(context.Background(), tok, cost); !errors.Is(err, models.ErrUnauthorized) || !cost.Spent {
			t.Errorf("with an allowance: got %v, spent %v; want ErrUnauthorized after a call", err, cost.Spent)
		}
	}
}
