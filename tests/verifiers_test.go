package tests

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers/identity"
)

// oidcKey is a signing key of the local identity provider.
type oidcKey struct {
	kid string
	key any // *ecdsa.PrivateKey or *rsa.PrivateKey
}

func newECKey(t *testing.T, kid string) oidcKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return oidcKey{kid: kid, key: k}
}

func newRSAKey(t *testing.T, kid string) oidcKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return oidcKey{kid: kid, key: k}
}

func (k oidcKey) jwk() map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	if r, ok := k.key.(*rsa.PrivateKey); ok {
		return map[string]string{"kty": "RSA", "kid": k.kid, "use": "sig", "alg": "RS256",
			"n": b64(r.N.Bytes()), "e": b64(big.NewInt(int64(r.E)).Bytes())}
	}
	pub, _ := k.key.(*ecdsa.PrivateKey).PublicKey.Bytes()
	return map[string]string{"kty": "EC", "kid": k.kid, "use": "sig", "crv": "P-256", "x": b64(pub[1:33]), "y": b64(pub[33:])}
}

// token signs an OIDC token for sub, as a provider's token endpoint would.
func (k oidcKey) token(t *testing.T, sub, name string, ttl time.Duration) string {
	t.Helper()
	m := jwt.SigningMethodES256
	var method jwt.SigningMethod = m
	if _, ok := k.key.(*rsa.PrivateKey); ok {
		method = jwt.SigningMethodRS256
	}
	now := time.Now()
	tok := jwt.NewWithClaims(method, jwt.MapClaims{"iss": "https://idp.test/realms/resonate", "aud": "resonate-chat",
		"sub": sub, "name": name, "iat": now.Unix(), "exp": now.Add(ttl).Unix()})
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// idp serves a JWK Set that the test rotates, or fails.
type idp struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []oidcKey
	down    bool
	fetches atomic.Int64
}

func newIDP(t *testing.T, keys ...oidcKey) *idp {
	p := &idp{keys: keys}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.down {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		set := map[string][]map[string]string{"keys": {}}
		for _, k := range p.keys {
			set["keys"] = append(set["keys"], k.jwk())
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *idp) publish(down bool, keys ...oidcKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down, p.keys = down, keys
}

// startJWKS runs a JWKS verifier against p until the test ends.
func startJWKS(t *testing.T, p *idp) *identity.JWKS {
	j := identity.NewJWKS(identity.JWKSOptions{URL: p.URL, Issuer: "https://idp.test/realms/resonate", Audience: "resonate-chat",
		MinRefresh: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); j.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return j
}

// appwrite answers GET /v1/account as Appwrite documents it.
type appwrite struct {
	*httptest.Server
	mu    sync.Mutex
	users map[string]map[string]any
	mode  string // "", "slow" or "fail"
	calls atomic.Int64
}

func newAppwrite(t *testing.T) *appwrite {
	a := &appwrite{users: map[string]map[string]any{}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		a.mu.Lock()
		mode, user := a.mode, a.users[r.Header.Get("X-Appwrite-JWT")]
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path != "/v1/account" || r.Header.Get("X-Appwrite-Project") != "resonate":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"Project with the requested ID could not be found.","code":404,"type":"project_not_found","version":"1.6.0"}`))
		case mode == "slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		case mode == "fail":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"message":"Server Error","code":500,"type":"general_unknown","version":"1.6.0"}`))
		case user == nil:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"Failed to verify JWT. Invalid token: Incorrect signature","code":401,"type":"user_jwt_invalid","version":"1.6.0"}`))
		default:
			_ = json.NewEncoder(w).Encode(user)
		}
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *appwrite) setMode(m string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mode = m
}

// jwt returns a JWT as the Flutter app gets it from account.createJWT(),
// registered with the stand-in unless forged.
func (a *appwrite) jwt(t *testing.T, id, name string, ttl time.Duration, forged bool) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"userId": id, "sessionId": "sess-" + id,
		"exp": time.Now().Add(ttl).Unix()}).SignedString([]byte("appwrite-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if !forged {
		a.mu.Lock()
		a.users[tok] = map[string]any{"$id": id, "$createdAt": "2026-01-01T10:00:00.000+00:00", "$updatedAt": "2026-01-01T10:00:00.000+00:00",
			"name": name, "registration": "2026-01-01T10:00:00.000+00:00", "status": true, "labels": []string{},
			"passwordUpdate": "", "email": id + "@example.com", "phone": "", "emailVerification": true, "phoneVerification": false,
			"mfa": false, "prefs": map[string]any{}, "targets": []any{}, "accessedAt": "2026-01-01T10:00:00.000+00:00"}
		a.mu.Unlock()
	}
	return tok
}

func newAppwriteVerifier(a *appwrite) *identity.Appwrite {
	return identity.NewAppwrite(identity.AppwriteOptions{Endpoint: a.URL + "/v1", Project: "resonate", Timeout: 300 * time.Millisecond})
}

// as is a client with a given token.
func (s *Server) as(t *testing.T, user, token string) *Client {
	return &Client{t: t, s: s, User: user, Token: token}
}

func wantProblem(t *testing.T, r *Response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if p := r.Problem(t); p.Code != code {
		t.Fatalf("code %q, want %q", p.Code, code)
	}
	if status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

func TestVerifiersEndToEnd(t *testing.T) {
	t.Parallel()
	k1, k2, rsaKey := newECKey(t, "k1"), newECKey(t, "k2"), newRSAKey(t, "rsa1")
	provider := newIDP(t, k1, rsaKey)
	aw := newAppwrite(t)
	s := StartServer(t, Options{Verifiers: []identity.Verifier{startJWKS(t, provider), newAppwriteVerifier(aw)}})
	anon := s.as(t, "anon", "")
	waitFor(t, 5*time.Second, "/readyz", func() bool { return anon.Do("GET", "/readyz", nil).Status == http.StatusOK })

	// Three users, one per verifier, in one room.
	oidc := s.as(t, "oidc-alice", k1.token(t, "oidc-alice", "Alice", time.Hour))
	bobJWT := aw.jwt(t, "65f1b0b", "Bob", 15*time.Minute, false)
	bob := s.as(t, "65f1b0b", bobJWT)
	carol := s.Client(t, "carol")
	room := uniqueRoom(t)
	oidc.CreateRoom(room)
	bob.Join(room)
	carol.Join(room)
	s.as(t, "rsa-dave", rsaKey.token(t, "rsa-dave", "Dave", time.Hour)).Join(room)
	if m := bob.Send(room, "hello from Appwrite"); m.SenderID != "65f1b0b" || m.SenderName != "Bob" {
		t.Fatalf("Appwrite sender: got %s/%s, want 65f1b0b/Bob", m.SenderID, m.SenderName)
	}
	var parts struct {
		Participants []api.Participant `json:"participants"`
	}
	oidc.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/participants", nil, &parts)
	if len(parts.Participants) != 4 || parts.Participants[0].UserID != "oidc-alice" || parts.Participants[0].Role != "owner" {
		t.Fatalf("participants: %+v", parts.Participants)
	}

	// The stream takes the Appwrite JWT in the header, or a ticket bought with it.
	if st := bob.Stream(room); st.Status != http.StatusOK {
		t.Fatalf("stream with an Appwrite JWT: %d", st.Status)
	}
	var ticket api.StreamTicket
	bob.Must(http.StatusCreated, "POST", "/api/v1/rooms/"+room+"/stream-ticket", nil, &ticket)
	if st := s.OpenStream(t, "/api/v1/rooms/"+room+"/events", "", "?ticket="+ticket.Ticket); st.Status != http.StatusOK {
		t.Fatalf("stream with a ticket from an Appwrite JWT: %d", st.Status)
	}

	// Tokens no verifier accepts are 401s.
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	for name, tok := range map[string]string{
		"forged Appwrite JWT": aw.jwt(t, "65f1evil", "Eve", 15*time.Minute, true),
		"expired OIDC token":  k1.token(t, "oidc-alice", "Alice", -time.Hour),
		"alg none":            none,
	} {
		r := s.as(t, "x", tok).Do("GET", "/api/v1/rooms/"+room, nil)
		wantProblem(t, r, http.StatusUnauthorized, "unauthorized")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", name)
		}
	}

	// Key rotation: k2 appears and is accepted; k1 is withdrawn and refused.
	provider.publish(false, k1, k2, rsaKey)
	erin := s.as(t, "oidc-erin", k2.token(t, "oidc-erin", "Erin", time.Hour))
	waitFor(t, 5*time.Second, "the new kid", func() bool {
		return erin.Do("POST", "/api/v1/rooms/"+room+"/participants", nil).Status == http.StatusCreated
	})
	provider.publish(false, k2)
	newKid := s.as(t, "x", newECKey(t, "k3").token(t, "x", "", time.Hour)) // an unknown kid makes the verifier look again
	waitFor(t, 5*time.Second, "the withdrawn kid to be refused", func() bool {
		newKid.Do("GET", "/api/v1/rooms/"+room, nil)
		return oidc.Do("GET", "/api/v1/rooms/"+room, nil).Status == http.StatusUnauthorized
	})
	erin.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room, nil, nil)

	// Appwrite failing or too slow: a 503, never a pass; a cached answer still serves.
	for _, mode := range []string{"fail", "slow"} {
		aw.setMode(mode)
		fresh := s.as(t, "65f1f0x", aw.jwt(t, "65f1f0x", "Fox", 15*time.Minute, false))
		wantProblem(t, fresh.Do("POST", "/api/v1/rooms/"+room+"/participants", nil), http.StatusServiceUnavailable, "unavailable")
		bob.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room, nil, nil)
	}
	aw.setMode("")
}

func TestVerifiersReadyzWaitsForKeys(t *testing.T) {
	t.Parallel()
	k := newECKey(t, "k1")
	provider := newIDP(t, k)
	provider.publish(true, k)
	s := StartServer(t, Options{Verifiers: []identity.Verifier{startJWKS(t, provider)}})
	anon := s.as(t, "anon", "")
	wantProblem(t, anon.Do("GET", "/readyz", nil), http.StatusServiceUnavailable, "unavailable")
	alice := s.as(t, "alice", k.token(t, "alice", "Alice", time.Hour))
	wantProblem(t, alice.Do("POST", "/api/v1/rooms", map[string]string{"name": "x"}), http.StatusServiceUnavailable, "unavailable")
	s.Client(t, "carol").CreateRoom(uniqueRoom(t)) // HS256 tokens do not wait for the provider

	provider.publish(false, k)
	waitFor(t, 5*time.Second, "/readyz", func() bool { return anon.Do("GET", "/readyz", nil).Status == http.StatusOK })
	alice.CreateRoom(uniqueRoom(t))
}

func TestVerifiersAppwriteExpiryEndsStream(t *testing.T) {
	t.Parallel()
	aw := newAppwrite(t)
	s := StartServer(t, Options{Verifiers: []identity.Verifier{newAppwriteVerifier(aw)}})
	room := uniqueRoom(t)
	s.Client(t, "owner").CreateRoom(room)
	// A JWT about to expire, as the app holds near the end of its 15 minutes.
	bob := s.as(t, "65f1b0b", aw.jwt(t, "65f1b0b", "Bob", 2*time.Second, false))
	bob.Join(room)
	st := bob.Stream(room)
	if st.Status != http.StatusOK {
		t.Fatalf("stream: %d", st.Status)
	}
	for {
		ev := st.NextRoomEvent(5 * time.Second)
		if ev.Type == "auth.expired" {
			break
		}
	}
	if !st.Ended(2 * time.Second) {
		t.Fatal("stream still open after auth.expired")
	}
	// The app reconnects with a fresh JWT and Last-Event-ID.
	bob.Token = aw.jwt(t, "65f1b0b", "Bob", 15*time.Minute, false)
	if st := bob.Stream(room, "Last-Event-ID", "0"); st.Status != http.StatusOK {
		t.Fatalf("reconnect with a fresh JWT: %d", st.Status)
	}
}
