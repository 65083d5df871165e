package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/models"
)

var authSecret = []byte("test secret of thirty-two bytes!")

// authRSAKey is generated once: 2048-bit generation is slow under -race.
var authRSAKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// hsClaims are valid claims for sub, expiring in ttl.
func hsClaims(sub string, ttl time.Duration) Claims {
	return Claims{Name: "Alice", RegisteredClaims: jwt.RegisteredClaims{Subject: sub, ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl))}}
}

func signWith(t *testing.T, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// rawJWT builds a token from a literal header and payload, signed with
// HMAC-SHA256 under key whatever the header says.
func rawJWT(header, payload map[string]any, key []byte) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	in := enc(header) + "." + enc(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestHS256Verify(t *testing.T) {
	t.Parallel()
	rsaKey, err := authRSAKey()
	if err != nil {
		t.Fatalf("rsa key: %v", err)
	}
	v := NewHS256(authSecret)
	exp := time.Now().Add(time.Hour).Unix()
	admin := hsClaims("alice", time.Hour)
	admin.Roles = []string{"moderator", "admin"}
	notAdmin := hsClaims("alice", time.Hour)
	notAdmin.Roles = []string{"Admin", "administrator"}
	notYet := hsClaims("alice", time.Hour)
	notYet.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Minute))
	tampered := func() string {
		parts := strings.Split(signWith(t, jwt.SigningMethodHS256, authSecret, hsClaims("alice", time.Hour)), ".")
		b, _ := json.Marshal(map[string]any{"sub": "mallory", "exp": exp, "roles": []string{"admin"}})
		parts[1] = base64.RawURLEncoding.EncodeToString(b)
		return strings.Join(parts, ".")
	}()

	tests := []struct {
		name  string
		token string
		// user is the accepted user id; empty when the token must be refused.
		user  string
		admin bool
	}{
		{"valid", signWith(t, jwt.SigningMethodHS256, authSecret, hsClaims("alice", time.Hour)), "alice", false},
		{"admin", signWith(t, jwt.SigningMethodHS256, authSecret, admin), "alice", true},
		{"roles are exact", signWith(t, jwt.SigningMethodHS256, authSecret, notAdmin), "alice", false},
		{"expired within leeway", signWith(t, jwt.SigningMethodHS256, authSecret, hsClaims("alice", -10*time.Second)), "alice", false},
		{"128 characters", signWith(t, jwt.SigningMethodHS256, authSecret, hsClaims(strings.Repeat("a", 128), time.Hour)), strings.Repeat("a", 128), false},
		{"128 two-byte characters", signWith(t, jwt.SigningMethodHS256, authSecret, hsClaims(strings.Repeat("é", 128), time.Hour)), strings.Repeat("é", 128), false},

		{"alg none", signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, hsClaims("alice", time.Hour)), "", false},
		{"alg none, hand made", rawJWT(map[string]any{"alg": "none", "typ": "JWT"}, map[string]any{"sub": "alice", "exp": exp}, nil), "", false},
		{"HS384 with the secret", signWith(t, jwt.SigningMethodHS384, authSecret, hsClaims("alice", time.Hour)), "", false},
		{"HS512 with the secret", signWith(t, jwt.SigningMethodHS512, authSecret, hsClaims("alice", time.Hour)), "", false},
		{"RS256", signWith(t, jwt.SigningMethodRS256, rsaKey, hsClaims("alice", time.Hour)), "", false},
		{"RS256 header, HMAC signature", rawJWT(map[string]any{"alg": "RS256", "typ": "JWT"}, map[string]any{"sub": "alice", "exp": exp}, authSecret), "", false},
		{"missing exp", signWith(t, jwt.SigningMethodHS256, authSecret, Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}}), "", false},
		{"exp as a string", rawJWT(map[string]any{"alg": "HS256", "typ": "JWT"}, map[string]any{"sub": "alice", "exp": "never"}, authSecret), "", false},
		{"expired", signWith(t, jwt.SigningMethodHS256, authSecret, hsClaims("alice", -time.Minute)), "", false},
		{"not yet valid", signWith(t, jwt.SigningMethodHS256, authSecret, notYet), "", false},
		{"wrong key", signWith(t, jwt.SigningMethodHS256, []byte("another secret of 32 bytes......"), hsClaims("alice", time.Hour)), "", false},
		{"tampered payload", tampered, "", false},
		{"sub empty", signWith(t, jwt.SigningMethodHS256, authSecret, hsClaims("", time.Hour)), "", false},
		{"sub 129 characters", signWith(t, jwt.SigningMethodHS256, authSecret, hsClaims(strings.Repeat("a", 129), time.Hour)), "", false},
		{"sub with a newline", signWith(t, jwt.SigningMethodHS256, authSecret, hsClaims("ali\nce", time.Hour)), "", false},
		{"sub with a NUL", signWith(t, jwt.SigningMethodHS256, authSecret, hsClaims("ali\x00ce", time.Hour)), "", false},
		{"empty", "", "", false},
		{"garbage", "not a token", "", false},
		{"three empty parts", "..", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := v.Verify(context.Background(), tt.token, nil)
			if tt.user == "" {
				if id != nil || !errors.Is(err, models.ErrUnauthorized) {
					t.Errorf("Verify: got %+v, %v; want %v", id, err, models.ErrUnauthorized)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: got %v, want nil", err)
			}
			if id.Actor.UserID != tt.user || id.Actor.Admin != tt.admin || id.Actor.Name != "Alice" {
				t.Errorf("Verify: got %+v, want user %q admin %v name Alice", id.Actor, tt.user, tt.admin)
			}
			if id.Expires.IsZero() {
				t.Errorf("Verify: got no expiry, want the token's exp")
			}
		})
	}
}

// TestHS256SignVerify: what `resonate-chat token` prints is accepted.
func TestHS256SignVerify(t *testing.T) {
	t.Parallel()
	v := NewHS256(authSecret)
	tok, err := v.Sign("bob", "Bob", true, time.Hour)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	id, err := v.Verify(context.Background(), tok, nil)
	if err != nil {
		t.Fatalf("Verify: got %v, want nil", err)
	}
	want := models.Actor{UserID: "bob", Name: "Bob", Admin: true}
	if id.Actor != want {
		t.Errorf("Verify: got %+v, want %+v", id.Actor, want)
	}
	if d := time.Until(id.Expires); d < 59*time.Minute || d > time.Hour {
		t.Errorf("Verify: got expiry in %v, want about an hour", d)
	}
}
