package identity

import (
	"context"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/models"
)

// HS256 verifies tokens signed with the server's secret.
type HS256 struct {
	key []byte
}

// NewHS256 returns a verifier for tokens signed with secret.
func NewHS256(secret []byte) *HS256 { return &HS256{key: secret} }

// Verify implements Verifier: HS256 only, exp required, small leeway.
func (v *HS256) Verify(_ context.Context, token string, _ *Cost) (*Identity, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.key, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(Leeway))
	if err != nil {
		return nil, tokenErr(err)
	}
	return c.Identity()
}

// tokenErr says in a client's words why the JWT parser refused a token,
// without the library's own ("token is unverifiable: error while executing
// keyfunc: …").
func tokenErr(err error) error {
	why := "the token is not valid"
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		why = "the token is not a well-formed JWT"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		why = "the token has no exp"
	case errors.Is(err, jwt.ErrTokenExpired):
		why = "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		why = "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		why = "the token's issuer (iss) is not the one configured"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		why = "the token's audience (aud) is not this server"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		why = "the token's signature or signing method is not valid"
	}
	return models.WithDetail(models.ErrUnauthorized, "%s", why)
}

// Sign issues an HS256 token: what `resonate-chat token` prints.
func (v *HS256) Sign(sub, name string, admin bool, ttl time.Duration) (string, error) {
	c := Claims{Name: name, RegisteredClaims: jwt.RegisteredClaims{Subject: sub,
		IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl))}}
	if admin {
		c.Roles = []string{"admin"}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(v.key)
}
