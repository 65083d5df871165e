package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers/identity"
	"github.com/resonate/resonate-chat/models"
)

const (
	ctxLogger   = "resonate.logger"
	ctxIdentity = "resonate.identity"
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestLog gives every request an id (the client's X-Request-ID if it is
// sane), a logger carrying it, and one log line at the end: 5xx as errors,
// the rest at info, a request whose client went away (status 499) as "client
// gone". Credentials in the query string are masked.
func requestLog(base *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if !requestIDPattern.MatchString(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Header("X-Request-ID", id)
		log := base.With("request_id", id)
		c.Set(ctxLogger, log)
		start := time.Now()
		c.Next()
		status := c.Writer.Status()
		level, msg := slog.LevelInfo, "request"
		switch {
		case status == api.StatusClientClosed:
			msg = "client gone"
		case status >= 500:
			level = slog.LevelError
		}
		log.Log(c.Request.Context(), level, msg, "client", c.ClientIP(), "method", c.Request.Method, "url", MaskURL(c.Request.URL),
			"route", c.FullPath(), "status", status, "duration", time.Since(start), "bytes", c.Writer.Size())
	}
}

// plainParams are the query parameters whose values may be logged: resume
// points and page bounds, which are numbers and identify nothing. Every other
// value is masked whatever its name or the case of its name, so that no
// spelling of a credential (Ticket=, Token=, jwt=, a name nobody foresaw)
// reaches a log: an allowlist, because a denylist is only as good as the
// spellings it thought of.
var plainParams = map[string]bool{"last_event_id": true, "limit": true, "before": true, "after": true}

var (
	// plainValue is what a plain parameter's value looks like; anything else
	// there is masked too, in case a client put a credential in the wrong
	// place.
	plainValue = regexp.MustCompile(`^-?[0-9]{1,20}$`)
	// plainName is a parameter name short and plain enough to be a name: a
	// longer one (a token sent as "?eyJ…" with no "=") is masked as well.
	plainName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)
)

// MaskURL renders u for a log line: the path, and the query with every value
// but those of plainParams replaced by "***".
func MaskURL(u *url.URL) string {
	if u.RawQuery == "" {
		return u.Path
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// A pair that does not parse (a bad escape, a ';') is left out of q
		// and could hold a credential: log none of the query.
		return u.Path + "?***"
	}
	out := url.Values{}
	for k, vs := range q {
		switch {
		case !plainName.MatchString(k):
			out["***"] = []string{"***"}
		case plainParams[k] && allPlain(vs):
			out[k] = vs
		default:
			out[k] = []string{"***"}
		}
	}
	return u.Path + "?" + strings.ReplaceAll(out.Encode(), "%2A%2A%2A", "***")
}

func allPlain(vs []string) bool {
	for _, v := range vs {
		if !plainValue.MatchString(v) {
			return false
		}
	}
	return true
}

// logger is the request's logger, which requestLog sets; a context that did
// not pass through it (a unit test's) logs nowhere, never to slog's default.
func logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(ctxLogger); ok {
		return l.(*slog.Logger)
	}
	return slog.New(slog.DiscardHandler)
}

// recovery turns a panic into a logged 500 problem.
func recovery() gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, err any) {
		logger(c).Error("panic", "panic", err)
		fail(c, panicErr{err})
	})
}

type panicErr struct{ v any }

func (p panicErr) Error() string { return "panic" }

// securityHeaders are sent on every answer; authenticated ones are never
// cached.
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(c.Request.URL.Path, "/api/") {
		h.Set("Cache-Control", "no-store")
	}
	c.Next()
}

// authenticate establishes the caller from the Authorization header, or on the
// stream route from a ticket. A token in the query string is refused. Every
// credential is checked, whatever its address has sent before, so a valid one
// is never refused; an address whose tokens keep needing an identity provider
// and failing may make it no more calls for a while (429; see identity.Cost).
func authenticate(v identity.Verifier, t *identity.Tickets, guard *authGuard) gin.HandlerFunc {
	return func(c *gin.Context) {
		token, ticket, err := credentials(c.GetHeader("Authorization"), c.Request.URL.Query(), c.FullPath() == streamRoute)
		var id *identity.Identity
		ip := clientKey(c)
		switch {
		case err != nil:
		case token != "":
			cost := &identity.Cost{Allowed: guard.wait(ip) <= 0}
			id, err = v.Verify(c.Request.Context(), token, cost)
			if cost.Spent && errors.Is(err, models.ErrUnauthorized) {
				guard.spend(ip)
			}
		default:
			id, err = t.Check(ticket, c.Param("room"))
		}
		if err == nil && opensStream(c.FullPath()) && !id.Expires.IsZero() && !time.Now().Before(id.Expires) {
			err = errExpiredForStream
		}
		if errors.Is(err, identity.ErrCostRefused) {
			fail(c, models.Restricted(models.WithDetail(models.ErrRateLimited, "too many tokens from your address needed checking with the identity provider and were refused; a token that needs no such check still works"),
				nil, max(guard.wait(ip), time.Second)))
			return
		}
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="resonate-chat"`)
			fail(c, err)
			return
		}
		c.Set(ctxIdentity, id)
		c.Next()
	}
}

// opensStream reports whether route opens a stream or gets a ticket for one.
// The clock leeway that lets a single call through just after its token's
// exp does not apply there: a stream opened so would only say auth.expired
// and end, and the client would reconnect with the same token until the
// leeway ran out, when it should have refreshed its token first.
func opensStream(route string) bool { return route == streamRoute || route == ticketRoute }

var errExpiredForStream = models.WithDetail(models.ErrUnauthorized,
	"the token has expired: refresh it before opening a stream (the %s leeway for clock skew applies to single calls only)", identity.Leeway)

// credentials picks the credential a request carries: a bearer token from
// the Authorization header or, on the stream route, a ticket from the query
// string. A token in the query string, a malformed header, or nothing at all
// is an ErrUnauthorized. Exactly one of token and ticket is set when err is
// nil.
func credentials(header string, query url.Values, stream bool) (token, ticket string, err error) {
	if query.Has("token") || query.Has("access_token") {
		return "", "", models.WithDetail(models.ErrUnauthorized, "tokens are not accepted in the URL; use the Authorization header or a stream ticket")
	}
	switch {
	case header != "":
		scheme, tok, ok := strings.Cut(header, " ")
		if tok = strings.TrimSpace(tok); !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return "", "", models.WithDetail(models.ErrUnauthorized, "Authorization must be \"Bearer <token>\"")
		}
		return tok, "", nil
	case stream && query.Get("ticket") != "":
		return "", query.Get("ticket"), nil
	}
	return "", "", models.WithDetail(models.ErrUnauthorized, "missing credentials: send Authorization: Bearer <token>")
}

func caller(c *gin.Context) *identity.Identity { return c.MustGet(ctxIdentity).(*identity.Identity) }

func actor(c *gin.Context) models.Actor { return caller(c).Actor }
