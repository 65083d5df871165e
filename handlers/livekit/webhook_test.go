package livekit

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/models"
)

// signLiveKit signs body as LiveKit's server SDK does: an HS256 JWT issued
// by the API key, valid for 5 minutes, whose sha256 claim is the base64
// SHA-256 of the body.
func signLiveKit(t *testing.T, key, secret string, body []byte, alg jwt.SigningMethod, exp time.Duration) string {
	t.Helper()
	sum := sha256.Sum256(body)
	now := time.Now()
	c := claims{Sha256: base64.StdEncoding.EncodeToString(sum[:]), RegisteredClaims: jwt.RegisteredClaims{
		Issuer: key, NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(exp))}}
	var k any = []byte(secret)
	if alg == jwt.SigningMethodNone {
		k = jwt.UnsafeAllowNoneSignatureType
	}
	s, err := jwt.NewWithClaims(alg, c).SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLiveKitVerify(t *testing.T) {
	t.Parallel()
	h := New(nil, Config{APIKey: "APIkey1", APISecret: "livekit-secret-livekit-secret-00"})
	body := []byte(`{"event":"room_finished","room":{"name":"r1"},"id":"EV_1","createdAt":"1767225600"}`)
	good := signLiveKit(t, "APIkey1", "livekit-secret-livekit-secret-00", body, jwt.SigningMethodHS256, 5*time.Minute)
	tests := []struct {
		name   string
		header string
		body   []byte
		ok     bool
	}{
		{"as LiveKit sends it", good, body, true},
		{"with a Bearer prefix", "Bearer " + good, body, true},
		{"unsigned", "", body, false},
		{"tampered body", good, []byte(`{"event":"room_finished","room":{"name":"r2"},"id":"EV_1","createdAt":"1767225600"}`), false},
		{"body with a trailing byte", good, append(append([]byte{}, body...), ' '), false},
		{"another API key", signLiveKit(t, "APIother", "livekit-secret-livekit-secret-00", body, jwt.SigningMethodHS256, 5*time.Minute), body, false},
		{"another secret", signLiveKit(t, "APIkey1", "some-other-secret-some-other-sec", body, jwt.SigningMethodHS256, 5*time.Minute), body, false},
		{"expired", signLiveKit(t, "APIkey1", "livekit-secret-livekit-secret-00", body, jwt.SigningMethodHS256, -time.Minute), body, false},
		{"alg none", signLiveKit(t, "APIkey1", "", body, jwt.SigningMethodNone, 5*time.Minute), body, false},
		{"HS512", signLiveKit(t, "APIkey1", "livekit-secret-livekit-secret-00", body, jwt.SigningMethodHS512, 5*time.Minute), body, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := h.verify(tc.header, tc.body)
			if tc.ok && err != nil {
				t.Fatalf("got %v, want accepted", err)
			}
			if !tc.ok && !errors.Is(err, models.ErrUnauthorized) {
				t.Fatalf("got %v, want ErrUnauthorized", err)
			}
		})
	}
}

func TestLiveKitRecentIDs(t *testing.T) {
	t.Parallel()
	r := newRecentIDs(time.Hour, 3)
	for _, id := range []string{"a", "b", "c", "d"} {
		r.add(id)
	}
	r.add("")
	for id, want := range map[string]bool{"a": false, "b": true, "c": true, "d": true, "": false} {
		if got := r.has(id); got != want {
			t.Errorf("has(%q) = %v, want %v", id, got, want)
		}
	}
	expired := newRecentIDs(0, 10) // every id is expired as soon as it is added
	expired.add("x")
	if expired.has("x") {
		t.Error("an expired id is still remembered")
	}
}
