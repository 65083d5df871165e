package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers/identity"
)

// forge signs claims with method and key, adding header fields.
func forge(t *testing.T, method jwt.SigningMethod, claims jwt.MapClaims, key any, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claimsFor are good claims for sub, valid for an hour; extra replaces or,
// with a nil value, removes claims.
func claimsFor(sub string, extra map[string]any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// Forged, tampered and out-of-date HS256 tokens are 401s; what is not a
// forgery is accepted. A token without nbf is not forged: RFC 7519 makes nbf
// optional, and neither `resonate-chat token` nor Appwrite sets it. An nbf in
// the future is refused beyond the 30 s leeway for clock skew.
func TestForgedServerTokens(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice := s.Client(t, "alice")
	room := coreRoom(t, alice)
	path := "/api/v1/rooms/" + room
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	hs := func(extra map[string]any) string {
		return forge(t, jwt.SigningMethodHS256, claimsFor("alice", extra), s.Secret, nil)
	}
	now := time.Now()
	cases := []struct {
		name, token string
		status      int
	}{
		{"good", hs(nil), 200},
		{"no nbf (optional)", hs(map[string]any{"nbf": nil}), 200},
		{"nbf in the past", hs(map[string]any{"nbf": now.Add(-time.Minute).Unix()}), 200},
		{"nbf 10 s ahead, within the leeway", hs(map[string]any{"nbf": now.Add(10 * time.Second).Unix()}), 200},
		{"nbf an hour ahead", hs(map[string]any{"nbf": now.Add(time.Hour).Unix()}), 401},
		{"nbf not a number", hs(map[string]any{"nbf": "yesterday"}), 401},
		{"no exp", hs(map[string]any{"exp": nil}), 401},
		{"exp not a number", hs(map[string]any{"exp": "tomorrow"}), 401},
		{"exp a minute ago", hs(map[string]any{"exp": now.Add(-time.Minute).Unix()}), 401},
		{"no sub", hs(map[string]any{"sub": nil}), 401},
		{"sub 129 characters", forge(t, jwt.SigningMethodHS256, claimsFor(strings.Repeat("u", 129), nil), s.Secret, nil), 401},
		{"sub with a NUL", forge(t, jwt.SigningMethodHS256, claimsFor("alice\x00", nil), s.Secret, nil), 401},
		{"sub a number", hs(map[string]any{"sub": 42}), 401},
		{"alg none", forge(t, jwt.SigningMethodNone, claimsFor("alice", nil), jwt.UnsafeAllowNoneSignatureType, nil), 401},
		{"alg none, signature kept", noneWithSignature(hs(nil)), 401},
		{"alg NONE", algRenamed(hs(nil), "NONE"), 401},
		{"alg HS512 with the secret", forge(t, jwt.SigningMethodHS512, claimsFor("alice", nil), s.Secret, nil), 401},
		{"alg HS256 with an empty key", forge(t, jwt.SigningMethodHS256, claimsFor("alice", nil), []byte{}, nil), 401},
		{"alg RS256, a key of its own", forge(t, jwt.SigningMethodRS256, claimsFor("alice", nil), rsaKey, nil), 401},
		{"alg ES256, a key of its own", forge(t, jwt.SigningMethodES256, claimsFor("alice", nil), ecKey, nil), 401},
		{"alg header says RS256 over an HMAC", algRenamed(hs(nil), "RS256"), 401},
		{"jwk header with the forger's key", forge(t, jwt.SigningMethodHS256, claimsFor("alice", nil), []byte("forger's secret, at least 32 bytes"),
			map[string]any{"jwk": map[string]string{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString([]byte("forger's secret, at least 32 bytes"))}}), 401},
		{"payload swapped to another user", swapPayload(hs(nil), claimsFor("mallory", nil)), 401},
		{"payload made admin", swapPayload(hs(nil), claimsFor("alice", map[string]any{"roles": []string{"admin"}})), 401},
		{"signature stripped", strings.Join(strings.Split(hs(nil), ".")[:2], ".") + ".", 401},
		{"two tokens in one header", hs(nil) + " " + hs(nil), 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.as(t, "x", c.token).Do("GET", path, nil)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			if c.status == 401 {
				coreProblem(t, r, 401, "unauthorized")
			}
		})
	}
}

// noneWithSignature rewrites a token's header to alg none, keeping its
// signature: the classic downgrade.
func noneWithSignature(token string) string { return algRenamed(token, "none") }

func algRenamed(token, alg string) string {
	parts := strings.Split(token, ".")
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	parts[0] = base64.RawURLEncoding.EncodeToString(h)
	return strings.Join(parts, ".")
}

func swapPayload(token string, claims jwt.MapClaims) string {
	parts := strings.Split(token, ".")
	p, _ := json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(p)
	return strings.Join(parts, ".")
}

// With an OpenID Connect provider configured, the RS256/ES256 path refuses
// key confusion (HS256 signed with the provider's public key), algorithms the
// key is not for, keys the provider does not publish, and tokens for another
// issuer or audience.
func TestForgedProviderTokens(t *testing.T) {
	t.Parallel()
	rsaKey, ecKey := newRSAKey(t, "rsa1"), newECKey(t, "ec1")
	provider := newIDP(t, rsaKey, ecKey)
	s := StartServer(t, Options{Verifiers: []identity.Verifier{startJWKS(t, provider)}})
	anon := s.as(t, "anon", "")
	waitFor(t, 5*time.Second, "/readyz", func() bool { return anon.Do("GET", "/readyz", nil).Status == http.StatusOK })
	owner := s.as(t, "oidc-alice", rsaKey.token(t, "oidc-alice", "Alice", time.Hour))
	room := uniqueRoom(t)
	owner.CreateRoom(room)

	priv := rsaKey.key.(*rsa.PrivateKey)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	iss, aud := "https://idp.test/realms/resonate", "resonate-chat"
	good := func(extra map[string]any) jwt.MapClaims {
		return claimsFor("oidc-alice", merge(map[string]any{"iss": iss, "aud": aud}, extra))
	}
	rs := func(c jwt.MapClaims) string {
		return forge(t, jwt.SigningMethodRS256, c, priv, map[string]any{"kid": "rsa1"})
	}
	otherRSA := newRSAKey(t, "rsa1") // same kid, key not published
	cases := []struct {
		name, token string
		status      int
	}{
		{"good RS256", rs(good(nil)), 200},
		{"good ES256", forge(t, jwt.SigningMethodES256, good(nil), ecKey.key, map[string]any{"kid": "ec1"}), 200},
		{"aud a list holding ours", rs(good(map[string]any{"aud": []string{"other", aud}})), 200},
		{"HS256 keyed with the public key's PEM", forge(t, jwt.SigningMethodHS256, good(nil), pemKey, map[string]any{"kid": "rsa1"}), 401},
		{"HS256 keyed with the public key's DER", forge(t, jwt.SigningMethodHS256, good(nil), der, map[string]any{"kid": "rsa1"}), 401},
		{"HS256 keyed with the modulus", forge(t, jwt.SigningMethodHS256, good(nil), priv.N.Bytes(), map[string]any{"kid": "rsa1"}), 401},
		{"PS256 with the published key", forge(t, jwt.SigningMethodPS256, good(nil), priv, map[string]any{"kid": "rsa1"}), 401},
		{"RS512 with the published key", forge(t, jwt.SigningMethodRS512, good(nil), priv, map[string]any{"kid": "rsa1"}), 401},
		{"RS256 naming the EC key", forge(t, jwt.SigningMethodRS256, good(nil), priv, map[string]any{"kid": "ec1"}), 401},
		{"ES384 with a key of its own", forge(t, jwt.SigningMethodES384, good(nil), mustEC(t, elliptic.P384()), map[string]any{"kid": "ec1"}), 401},
		{"alg none naming a published kid", forge(t, jwt.SigningMethodNone, good(nil), jwt.UnsafeAllowNoneSignatureType, map[string]any{"kid": "rsa1"}), 401},
		{"a published kid, another key", forge(t, jwt.SigningMethodRS256, good(nil), otherRSA.key, map[string]any{"kid": "rsa1"}), 401},
		{"jku pointing at the forger's keys", forge(t, jwt.SigningMethodRS256, good(nil), otherRSA.key,
			map[string]any{"kid": "forged", "jku": "https://evil.example/jwks.json", "x5u": "https://evil.example/cert.pem"}), 401},
		{"kid climbing paths", forge(t, jwt.SigningMethodRS256, good(nil), otherRSA.key, map[string]any{"kid": "../../../../dev/null"}), 401},
		{"wrong issuer", rs(good(map[string]any{"iss": "https://evil.example/"})), 401},
		{"no issuer", rs(good(map[string]any{"iss": nil})), 401},
		{"issuer with a trailing slash", rs(good(map[string]any{"iss": iss + "/"})), 401},
		{"wrong audience", rs(good(map[string]any{"aud": "another-app"})), 401},
		{"audience list without ours", rs(good(map[string]any{"aud": []string{"a", "b"}})), 401},
		{"no audience", rs(good(map[string]any{"aud": nil})), 401},
		{"no exp", rs(good(map[string]any{"exp": nil})), 401},
		{"nbf an hour ahead", rs(good(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()})), 401},
		{"no nbf (optional)", rs(good(map[string]any{"nbf": nil})), 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.as(t, "oidc-alice", c.token).Do("GET", "/api/v1/rooms/"+room, nil)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			if c.status == 401 {
				coreProblem(t, r, 401, "unauthorized")
			}
		})
	}
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func mustEC(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ticket gets a stream ticket for c in room.
func ticketFor(c *Client, room string) api.StreamTicket {
	c.t.Helper()
	var tk api.StreamTicket
	c.Must(http.StatusCreated, "POST", "/api/v1/rooms/"+room+"/stream-ticket", nil, &tk)
	return tk
}

// Stream tickets open one room's stream for one user for their life, and
// nothing else: not after it, not another room, not as a token, not once the
// user is banned, and not when changed by hand.
func TestForgedTickets(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{TicketTTL: 2 * time.Second})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	roomA := coreRoom(t, alice, bob)
	roomB := coreRoom(t, alice, bob)
	events := func(room string) string { return "/api/v1/rooms/" + room + "/events" }
	open := func(room, query string) *Stream { return s.OpenStream(t, events(room), "", query) }
	want := func(st *Stream, status int, code string) {
		t.Helper()
		if st.Status != status {
			t.Fatalf("status %d, want %d", st.Status, status)
		}
		if code != "" && (st.Problem == nil || st.Problem.Code != code) {
			t.Fatalf("problem %+v, want code %s", st.Problem, code)
		}
	}

	tk := ticketFor(bob, roomA)
	exp, err := time.Parse(time.RFC3339, tk.ExpiresAt)
	if err != nil || time.Until(exp) > 2*time.Second {
		t.Fatalf("expires_at %q: want within 2 s (%v)", tk.ExpiresAt, err)
	}
	first := open(roomA, "?ticket="+tk.Ticket)
	want(first, 200, "")
	// Reused within its life (EventSource's reconnects): fine.
	want(open(roomA, "?ticket="+tk.Ticket), 200, "")

	t.Run("another room", func(t *testing.T) { want(open(roomB, "?ticket="+tk.Ticket), 401, "unauthorized") })
	t.Run("as a bearer token", func(t *testing.T) {
		coreProblem(t, s.as(t, "bob", tk.Ticket).Do("GET", "/api/v1/rooms/"+roomA, nil), 401, "unauthorized")
		want(s.OpenStream(t, events(roomA), tk.Ticket), 401, "unauthorized")
	})
	t.Run("a token as a ticket", func(t *testing.T) { want(open(roomA, "?ticket="+bob.Token), 401, "unauthorized") })
	t.Run("on another route", func(t *testing.T) {
		coreProblem(t, s.as(t, "anon", "").Do("GET", "/api/v1/rooms/"+roomA+"/messages?ticket="+tk.Ticket, nil), 401, "unauthorized")
	})
	t.Run("another user by hand", func(t *testing.T) {
		var claims jwt.MapClaims
		_, _, _ = jwt.NewParser().ParseUnverified(tk.Ticket, &claims)
		claims["sub"] = "alice"
		want(open(roomA, "?ticket="+swapPayload(tk.Ticket, claims)), 401, "unauthorized")
		claims["sub"], claims["room"] = "bob", roomB
		want(open(roomB, "?ticket="+swapPayload(tk.Ticket, claims)), 401, "unauthorized")
	})
	t.Run("signed with the token secret", func(t *testing.T) {
		forged := forge(t, jwt.SigningMethodHS256, claimsFor("bob", map[string]any{"room": roomA, "cexp": time.Now().Add(time.Hour).Unix()}), s.Secret, nil)
		want(open(roomA, "?ticket="+forged), 401, "unauthorized")
	})
	t.Run("for a banned user", func(t *testing.T) {
		carol := s.Client(t, "carol")
		carol.Join(roomB)
		ctk := ticketFor(carol, roomB)
		alice.Must(http.StatusOK, "PUT", "/api/v1/rooms/"+roomB+"/bans/carol", map[string]any{}, nil)
		want(open(roomB, "?ticket="+ctk.Ticket), 403, "banned")
	})
	t.Run("for a user who left", func(t *testing.T) {
		dave := s.Client(t, "dave")
		dave.Join(roomB)
		dtk := ticketFor(dave, roomB)
		dave.Must(http.StatusNoContent, "DELETE", "/api/v1/rooms/"+roomB+"/participants/dave", nil, nil)
		want(open(roomB, "?ticket="+dtk.Ticket), 403, "not_participant")
	})
	t.Run("outliving its token", func(t *testing.T) {
		// Expired 28 s ago: still good for a single call within the 30 s
		// leeway for clock skew, but it buys no ticket.
		erin := &Client{t: t, s: s, User: "erin", Token: s.Token(t, "erin", false, -28*time.Second)}
		erin.Join(roomB)
		coreProblem(t, erin.Do("POST", "/api/v1/rooms/"+roomB+"/stream-ticket", nil), http.StatusUnauthorized, "unauthorized")
		// A ticket bought just before its token expired carries the token's
		// expiry, and opens nothing once it has passed.
		frank := &Client{t: t, s: s, User: "frank", Token: s.Token(t, "frank", false, 2*time.Second)}
		frank.Join(roomB)
		ftk := ticketFor(frank, roomB)
		<-time.After(2100 * time.Millisecond) // a JWT exp has whole seconds: at most 2 s ahead
		want(open(roomB, "?ticket="+ftk.Ticket), 401, "unauthorized")
	})

	// Past its life the ticket opens nothing, but the stream it opened lives
	// on: a stream lasts as long as the token that bought the ticket.
	<-time.After(time.Until(exp) + 1100*time.Millisecond) // wall-clock time is the point here
	want(open(roomA, "?ticket="+tk.Ticket), 401, "unauthorized")
	sent := alice.Send(roomA, "after the ticket expired")
	ev := first.NextRoomEvent(5 * time.Second)
	if ev.ID != strconv.FormatInt(sent.Seq, 10) {
		t.Fatalf("the ticket's stream got %+v after expiry, want message %d", ev, sent.Seq)
	}
}
