package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/models"
)

// testKey is a signing key a test provider publishes.
type testKey struct {
	kid string
	alg string
	key any // *rsa.PrivateKey or *ecdsa.PrivateKey
}

var (
	rsaOnce sync.Once
	rsaKeys [3]*rsa.PrivateKey
)

// rsaKey returns one of a few RSA keys generated once per test binary:
// generation is slow under -race.
func rsaKey(t *testing.T, i int) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		for i := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[i] = k
		}
	})
	return rsaKeys[i]
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (k testKey) jwk() map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	switch p := k.key.(type) {
	case *rsa.PrivateKey:
		return map[string]string{"kty": "RSA", "kid": k.kid, "use": "sig", "alg": "RS256",
			"n": b64(p.N.Bytes()), "e": b64(big.NewInt(int64(p.E)).Bytes())}
	case *ecdsa.PrivateKey:
		pub, _ := p.PublicKey.Bytes() // 0x04 || X || Y
		return map[string]string{"kty": "EC", "kid": k.kid, "crv": "P-256", "x": b64(pub[1:33]), "y": b64(pub[33:])}
	}
	panic("unknown key type")
}

func (k testKey) sign(t *testing.T, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), claims)
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	s, err := tok.SignedString(k.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// provider is a local OpenID Connect key server whose set and health the
// test changes as it goes.
type provider struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []testKey
	status  int
	fetches atomic.Int64
}

func newProvider(t *testing.T, keys ...testKey) *provider {
	p := &provider{keys: keys, status: http.StatusOK}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.status != http.StatusOK {
			http.Error(w, "down", p.status)
			return
		}
		var set struct {
			Keys []map[string]string `json:"keys"`
		}
		for _, k := range p.keys {
			set.Keys = append(set.Keys, k.jwk())
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *provider) set(status int, keys ...testKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status, p.keys = status, keys
}

func claims(sub string, ttl time.Duration) *Claims {
	now := time.Now()
	return &Claims{Name: "Alice", RegisteredClaims: jwt.RegisteredClaims{Subject: sub, Issuer: "https://idp.test",
		Audience: jwt.ClaimStrings{"resonate-chat"}, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl))}}
}

// startJWKS starts a verifier against p and waits until it has keys.
func startJWKS(t *testing.T, p *provider, opts JWKSOptions) *JWKS {
	t.Helper()
	opts.URL = p.URL
	j := NewJWKS(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); j.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return j
}

func waitReady(t *testing.T, j *JWKS) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for j.Ready(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("JWKS verifier not ready within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJWKSVerify(t *testing.T) {
	t.Parallel()
	rs := testKey{kid: "rs1", alg: "RS256", key: rsaKey(t, 0)}
	es := testKey{kid: "es1", alg: "ES256", key: ecKey(t)}
	p := newProvider(t, rs, es)
	j := startJWKS(t, p, JWKSOptions{Issuer: "https://idp.test", Audience: "resonate-chat"})
	waitReady(t, j)

	admin := claims("root", time.Hour)
	admin.Roles = []string{"admin"}
	noExp := claims("alice", time.Hour)
	noExp.ExpiresAt = nil
	otherIss := claims("alice", time.Hour)
	otherIss.Issuer = "https://evil.test"
	otherAud := claims("alice", time.Hour)
	otherAud.Audience = jwt.ClaimStrings{"another-app"}
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey(t, 0).PublicKey)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims("alice", time.Hour)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	confused := testKey{kid: "rs1", alg: "HS256", key: pubDER} // HMAC keyed with the public key
	wrongAlg := testKey{kid: "es1", alg: "RS256", key: rsaKey(t, 0)}
	forged := testKey{kid: "rs1", alg: "RS256", key: rsaKey(t, 1)}
	noKid := testKey{alg: "ES256", key: es.key}

	tests := []struct {
		name      string
		token     string
		wantUser  string
		wantAdmin bool
	}{
		{"RS256", rs.sign(t, claims("alice", time.Hour)), "alice", false},
		{"ES256", es.sign(t, claims("bob", time.Hour)), "bob", false},
		{"no kid tries every key of the alg", noKid.sign(t, claims("carol", time.Hour)), "carol", false},
		{"admin role", rs.sign(t, admin), "root", true},
		{"expired", rs.sign(t, claims("alice", -time.Hour)), "", false},
		{"no exp", rs.sign(t, noExp), "", false},
		{"no sub", rs.sign(t, claims("", time.Hour)), "", false},
		{"other issuer", rs.sign(t, otherIss), "", false},
		{"other audience", rs.sign(t, otherAud), "", false},
		{"alg none", none, "", false},
		{"HS256 keyed with the public key", confused.sign(t, claims("alice", time.Hour)), "", false},
		{"kid of an ES256 key on an RS256 token", wrongAlg.sign(t, claims("alice", time.Hour)), "", false},
		{"known kid, another key", forged.sign(t, claims("alice", time.Hour)), "", false},
		{"garbage", "not.a.jwt", "", false},
		{"unknown kid", testKey{kid: "nobody", alg: "ES256", key: ecKey(t)}.sign(t, claims("alice", time.Hour)), "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := j.Verify(context.Background(), tc.token, nil)
			if tc.wantUser == "" {
				if !errors.Is(err, models.ErrUnauthorized) {
					t.Fatalf("got identity %+v, err %v; want ErrUnauthorized", id, err)
				}
				for _, internal := range []string{"keyfunc", "unverifiable", "token is invalid:", "crypto/"} {
					if strings.Contains(err.Error(), internal) {
						t.Fatalf("the refusal says %q: want it in a client's words, without the library's %q", err, internal)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("got err %v, want user %q", err, tc.wantUser)
			}
			if id.Actor.UserID != tc.wantUser || id.Actor.Admin != tc.wantAdmin || id.Actor.Name != "Alice" {
				t.Fatalf("got actor %+v, want user %q admin %v", id.Actor, tc.wantUser, tc.wantAdmin)
			}
			if time.Until(id.Expires) < 59*time.Minute {
				t.Fatalf("got expiry %v, want the token's exp", id.Expires)
			}
		})
	}
}

func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	old := testKey{kid: "2026-01", alg: "RS256", key: rsaKey(t, 0)}
	next := testKey{kid: "2026-02", alg: "ES256", key: ecKey(t)}
	p := newProvider(t, old)
	j := startJWKS(t, p, JWKSOptions{Refresh: time.Hour, MinRefresh: 20 * time.Millisecond})
	waitReady(t, j)
	oldToken, nextToken := old.sign(t, claims("alice", time.Hour)), next.sign(t, claims("alice", time.Hour))
	if _, err := j.Verify(context.Background(), oldToken, nil); err != nil {
		t.Fatalf("old key before rotation: %v", err)
	}

	// The provider publishes the new key beside the old one: the first token
	// with the new kid fetches the set (once MinRefresh has passed).
	p.set(http.StatusOK, old, next)
	eventually(t, "the new kid is accepted", func() bool {
		_, err := j.Verify(context.Background(), nextToken, nil)
		return err == nil
	})

	// The old key is withdrawn: after the next fetch its tokens are refused.
	p.set(http.StatusOK, next)
	eventually(t, "the removed kid is refused", func() bool {
		_ = j.refresh(context.Background())
		_, err := j.Verify(context.Background(), oldToken, nil)
		return errors.Is(err, models.ErrUnauthorized)
	})
	if _, err := j.Verify(context.Background(), nextToken, nil); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
}

// TestJWKSNewKeyAcceptedOnFirstUse: providers publish a new key and sign
// with it soon after. With the default options, the first token signed with
// it is accepted (after at most one paced fetch), although the set was
// fetched a moment before.
func TestJWKSNewKeyAcceptedOnFirstUse(t *testing.T) {
	t.Parallel()
	old := testKey{kid: "2026-01", alg: "ES256", key: ecKey(t)}
	next := testKey{kid: "2026-02", alg: "ES256", key: ecKey(t)}
	p := newProvider(t, old)
	j := startJWKS(t, p, JWKSOptions{})
	waitReady(t, j)
	p.set(http.StatusOK, old, next)
	start := time.Now()
	id, err := j.Verify(context.Background(), next.sign(t, claims("alice", time.Hour)), nil)
	if err != nil {
		t.Fatalf("the first token signed with a newly published key: got %v, want it accepted", err)
	}
	if took := time.Since(start); id.Actor.UserID != "alice" || took > maxKidWait+time.Second {
		t.Fatalf("got %q after %s, want alice within %s", id.Actor.UserID, took, maxKidWait+time.Second)
	}
	if DefaultJWKSMinRefresh < 2*time.Second || DefaultJWKSMinRefresh > maxKidWait || maxKidWait > 10*time.Second {
		t.Fatalf("DefaultJWKSMinRefresh %s, maxKidWait %s: want a fetch every few seconds at most, and a new key within 10 s",
			DefaultJWKSMinRefresh, maxKidWait)
	}
}

// TestJWKSUnknownKidsPaced: unknown kids arriving all the time cost one fetch
// per MinRefresh, not one each, and each waits no longer than it.
func TestJWKSUnknownKidsPaced(t *testing.T) {
	t.Parallel()
	k := testKey{kid: "real", alg: "ES256", key: ecKey(t)}
	p := newProvider(t, k)
	const every = 100 * time.Millisecond
	j := startJWKS(t, p, JWKSOptions{Refresh: time.Hour, MinRefresh: every})
	waitReady(t, j)
	before, start := p.fetches.Load(), time.Now()
	var wg sync.WaitGroup
	for w := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Since(start) < time.Second; i++ {
				forged := testKey{kid: fmt.Sprintf("forged-%d-%d", w, i), alg: "ES256", key: k.key}
				began := time.Now()
				_, err := j.Verify(context.Background(), forged.sign(t, claims("mallory", time.Hour)), nil)
				if !errors.Is(err, models.ErrUnauthorized) {
					t.Errorf("unknown kid: got %v, want ErrUnauthorized", err)
					return
				}
				if waited := time.Since(began); waited > every+time.Second {
					t.Errorf("an unknown kid waited %s, want at most about %s", waited, every)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if got, most := p.fetches.Load()-before, int64(elapsed/every)+2; got > most {
		t.Fatalf("unknown kids for %s caused %d fetches, want at most %d (one per %s)", elapsed, got, most, every)
	}
}

// TestJWKSDownAnswersAtOnce: while the provider fails, a token with an
// unknown kid hears 503 at once rather than wait for the next fetch.
func TestJWKSDownAnswersAtOnce(t *testing.T) {
	t.Parallel()
	k := testKey{kid: "k", alg: "ES256", key: ecKey(t)}
	p := newProvider(t, k)
	p.set(http.StatusInternalServerError, k)
	j := startJWKS(t, p, JWKSOptions{Refresh: time.Hour})
	eventually(t, "a failed fetch", func() bool { return p.fetches.Load() >= 1 })
	start := time.Now()
	if _, err := j.Verify(context.Background(), k.sign(t, claims("alice", time.Hour)), nil); !errors.Is(err, models.ErrUnavailable) {
		t.Fatalf("while the provider is down: got %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the 503 took %s, want it at once", took)
	}
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	t.Parallel()
	k := testKey{kid: "k", alg: "ES256", key: ecKey(t)}
	p := newProvider(t, k)
	j := startJWKS(t, p, JWKSOptions{Refresh: 20 * time.Millisecond, MinRefresh: time.Hour})
	waitReady(t, j)
	eventually(t, "periodic fetches", func() bool { return p.fetches.Load() >= 3 })
	p.set(http.StatusOK, testKey{kid: "other", alg: "ES256", key: ecKey(t)})
	token := k.sign(t, claims("alice", time.Hour))
	eventually(t, "the withdrawn key to be refused without any token asking", func() bool {
		_, err := j.Verify(context.Background(), token, nil)
		return errors.Is(err, models.ErrUnauthorized)
	})
}

func TestJWKSUnknownKidFloodIsBounded(t *testing.T) {
	t.Parallel()
	k := testKey{kid: "real", alg: "ES256", key: ecKey(t)}
	p := newProvider(t, k)
	j := startJWKS(t, p, JWKSOptions{Refresh: time.Hour, MinRefresh: time.Hour})
	waitReady(t, j)
	before := p.fetches.Load()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			forged := testKey{kid: fmt.Sprintf("forged-%d", i), alg: "ES256", key: k.key}
			if _, err := j.Verify(context.Background(), forged.sign(t, claims("mallory", time.Hour)), nil); !errors.Is(err, models.ErrUnauthorized) {
				t.Errorf("unknown kid: got %v, want ErrUnauthorized", err)
			}
		}()
	}
	wg.Wait()
	if got := p.fetches.Load() - before; got > 1 {
		t.Fatalf("200 unknown kids caused %d fetches, want at most 1", got)
	}
	if _, err := j.Verify(context.Background(), k.sign(t, claims("alice", time.Hour)), nil); err != nil {
		t.Fatalf("the real key after the flood: %v", err)
	}
}

func TestJWKSUnavailableUntilLoaded(t *testing.T) {
	t.Parallel()
	k := testKey{kid: "k", alg: "RS256", key: rsaKey(t, 2)}
	p := newProvider(t, k)
	p.set(http.StatusInternalServerError, k)
	j := startJWKS(t, p, JWKSOptions{MinRefresh: 20 * time.Millisecond})
	eventually(t, "a failed fetch", func() bool { return p.fetches.Load() >= 1 })
	if err := j.Ready(context.Background()); !errors.Is(err, models.ErrUnavailable) {
		t.Fatalf("Ready before keys: got %v, want ErrUnavailable", err)
	}
	token := k.sign(t, claims("alice", time.Hour))
	if _, err := j.Verify(context.Background(), token, nil); !errors.Is(err, models.ErrUnavailable) {
		t.Fatalf("RS256 token while the provider is down: got %v, want ErrUnavailable", err)
	}
	hs, _ := NewHS256([]byte("a-secret-of-at-least-32-characters!")).Sign("alice", "", false, time.Hour)
	if _, err := j.Verify(context.Background(), hs, nil); !errors.Is(err, models.ErrUnauthorized) {
		t.Fatalf("HS256 token while the provider is down: got %v, want ErrUnauthorized (not ours)", err)
	}
	p.set(http.StatusOK, k)
	waitReady(t, j)
	if _, err := j.Verify(context.Background(), token, nil); err != nil {
		t.Fatalf("after the provider recovers: %v", err)
	}
	// A provider that fails later keeps the loaded keys in use.
	p.set(http.StatusInternalServerError, k)
	_ = j.refresh(context.Background())
	if _, err := j.Verify(context.Background(), token, nil); err != nil {
		t.Fatalf("known key while the provider is down again: %v", err)
	}
}

func TestJWKSSkipsUnusableKeys(t *testing.T) {
	t.Parallel()
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := ecKey(t)
	offCurve := testKey{kid: "off", alg: "ES256", key: good}.jwk()
	offCurve["y"] = offCurve["x"]
	enc := testKey{kid: "enc", alg: "ES256", key: good}.jwk()
	enc["use"] = "enc"
	doc := map[string]any{"keys": []map[string]string{
		testKey{kid: "weak", alg: "RS256", key: weak}.jwk(), offCurve, enc,
		{"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _ = json.NewEncoder(w).Encode(doc) }))
	defer srv.Close()
	j := NewJWKS(JWKSOptions{URL: srv.URL})
	if err := j.refresh(context.Background()); err == nil {
		t.Fatal("a set without a usable key loaded; want an error")
	}
	if j.Ready(context.Background()) == nil {
		t.Fatal("ready without usable keys")
	}
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
