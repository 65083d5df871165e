// Package identity owns how a caller is known: the Verifier interface and its
// implementations (HS256 with the server's secret, an OpenID Connect
// provider's JWKS, Appwrite's account JWTs with their cache), the Chain that
// tries them in the contract's order, and the stream tickets that stand in for
// a token where a URL must carry the credential. It knows nothing of HTTP
// routing: the handlers' middleware asks it.
package identity

import (
	"context"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/models"
)

// Identity is a verified caller: who, and until when the credential holds.
type Identity struct {
	Actor   models.Actor
	Expires time.Time
}

// Verifier checks a bearer token. It returns an error wrapping
// models.ErrUnauthorized for a bad token and models.ErrUnavailable when the
// identity provider cannot be asked. cost says whether it may do costly work
// for this token (see Cost); nil allows it.
type Verifier interface {
	Verify(ctx context.Context, token string, cost *Cost) (*Identity, error)
}

// Cost is what checking one request's token may cost the server, and what it
// did. Costly work is asking an identity provider: an Appwrite call, a JWKS
// fetch for an unknown kid. Everything else (parsing, a signature with a
// known key, a cached answer) is cheap and always runs, so a valid token
// that needs no call is never refused; an address that keeps sending tokens
// that needed a call and failed is allowed no more calls for a while (see
// authGuard). A nil *Cost allows every call.
type Cost struct {
	// Allowed says whether the verifier may call out for this token.
	Allowed bool
	// Spent is set by a verifier that needed to call out.
	Spent bool
}

// take records that the token needs a call out, and reports whether it may
// be made.
func (c *Cost) take() bool {
	if c == nil {
		return true
	}
	c.Spent = true
	return c.Allowed
}

// ErrCostRefused is a token that needs a call to an identity provider from an
// address that may make no more for now.
var ErrCostRefused = errors.New("too many tokens from this address needed the identity provider and failed")

// Leeway tolerates small clock differences between issuer and server.
const Leeway = 30 * time.Second

// MaxUserIDLength is the contract's bound on sub.
const MaxUserIDLength = 128

// Claims are the token claims the chat uses.
type Claims struct {
	Name  string   `json:"name,omitempty"`
	Roles []string `json:"roles,omitempty"`
	jwt.RegisteredClaims
}

// Identity maps verified claims to an identity.
func (c *Claims) Identity() (*Identity, error) {
	if c.Subject == "" || len([]rune(c.Subject)) > MaxUserIDLength || models.ValidUserID(c.Subject) != nil {
		return nil, models.WithDetail(models.ErrUnauthorized, "token sub must be 1–%d characters", MaxUserIDLength)
	}
	if c.ExpiresAt == nil {
		return nil, models.WithDetail(models.ErrUnauthorized, "token has no exp")
	}
	admin := false
	for _, r := range c.Roles {
		admin = admin || r == "admin"
	}
	return &Identity{Actor: models.Actor{UserID: c.Subject, Name: c.Name, Admin: admin}, Expires: c.ExpiresAt.Time}, nil
}
