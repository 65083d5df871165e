package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/models"
)

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
