package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
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

// errCostRefused is a token that needs a call to an identity provider from an
// address that may make no more for now.
var errCostRefused = errors.New("too many tokens from this address needed the identity provider and failed")

// leeway tolerates small clock differences between issuer and server.
const leeway = 30 * time.Second

// maxUserIDLength is the contract's bound on sub.
const maxUserIDLength = 128

// Claims are the token claims the chat uses.
type Claims struct {
	Name  string   `json:"name,omitempty"`
	Roles []string `json:"roles,omitempty"`
	jwt.RegisteredClaims
}

// Identity maps verified claims to an identity.
func (c *Claims) Identity() (*Identity, error) {
	if c.Subject == "" || len([]rune(c.Subject)) > maxUserIDLength || models.ValidUserID(c.Subject) != nil {
		return nil, models.WithDetail(models.ErrUnauthorized, "token sub must be 1–%d characters", maxUserIDLength)
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
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(leeway))
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

// TicketTTL is how long a stream ticket may be used to connect: long enough
// for EventSource's automatic reconnects after a blip, short enough that a
// leaked URL is soon worthless.
const TicketTTL = 60 * time.Second

// Tickets issues and checks stream tickets: HS256 tokens under a key derived
// from the server secret for this one purpose, so a ticket is never a bearer
// token and a token is never a ticket.
type Tickets struct {
	key []byte
	ttl time.Duration
}

// NewTickets derives the ticket key from the server secret.
func NewTickets(secret []byte) *Tickets {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("resonate-chat stream ticket v1"))
	return &Tickets{key: m.Sum(nil), ttl: TicketTTL}
}

// WithTTL sets how long the tickets t issues open streams (TicketTTL unless
// set), so that a test need not wait a minute to see one run out.
func (t *Tickets) WithTTL(d time.Duration) *Tickets {
	if d > 0 {
		t.ttl = d
	}
	return t
}

type ticketClaims struct {
	Room string `json:"room"`
	Name string `json:"name,omitempty"`
	// Admin and CredExp carry the opening credential's admin flag and expiry,
	// so a stream opened by ticket ends when that credential would have.
	Admin   bool  `json:"adm,omitempty"`
	CredExp int64 `json:"cexp"`
	jwt.RegisteredClaims
}

// Issue returns a ticket for id in room, and when it stops opening streams.
func (t *Tickets) Issue(id *Identity, room string) (string, time.Time, error) {
	exp := time.Now().Add(t.ttl).Truncate(time.Second) // a JWT's exp has whole seconds: say what it holds
	c := ticketClaims{Room: room, Name: id.Actor.Name, Admin: id.Actor.Admin, CredExp: id.Expires.Unix(),
		RegisteredClaims: jwt.RegisteredClaims{Subject: id.Actor.UserID, ExpiresAt: jwt.NewNumericDate(exp)}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.key)
	return s, exp, err
}

// Check verifies a ticket for room.
func (t *Tickets) Check(ticket, room string) (*Identity, error) {
	var c ticketClaims
	_, err := jwt.ParseWithClaims(ticket, &c, func(*jwt.Token) (any, error) { return t.key, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	switch {
	case err != nil:
		return nil, models.WithDetail(models.ErrUnauthorized, "invalid or expired ticket")
	case c.Room != room:
		return nil, models.WithDetail(models.ErrUnauthorized, "ticket is for another room")
	case c.Subject == "":
		return nil, models.WithDetail(models.ErrUnauthorized, "ticket has no subject")
	case !time.Now().Before(time.Unix(c.CredExp, 0)):
		// Else the stream would open only to end at once with auth.expired,
		// and EventSource would reconnect with this ticket until it expired.
		return nil, models.WithDetail(models.ErrUnauthorized, "the token this ticket was bought with has expired")
	}
	return &Identity{Actor: models.Actor{UserID: c.Subject, Name: c.Name, Admin: c.Admin}, Expires: time.Unix(c.CredExp, 0)}, nil
}
