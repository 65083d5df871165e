package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/models"
)

const (
	ctxLogger   = "resonate.logger"
	ctxIdentity = "resonate.identity"
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestLog gives every request an id (the client's X-Request-ID if it is
// sane), a logger carrying it, and one log line at the end: 5xx as errors,
// the rest at info. Credentials in the query string are masked.
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
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		log.Log(c.Request.Context(), level, "request", "method", c.Request.Method, "url", MaskURL(c.Request.URL),
			"route", c.FullPath(), "status", status, "duration", time.Since(start), "bytes", c.Writer.Size())
	}
}

// secretParams are query parameters that carry credentials.
var secretParams = []string{"ticket", "token", "access_token"}

// MaskURL renders u for a log line with every credential replaced by "***".
func MaskURL(u *url.URL) string {
	q := u.Query()
	masked := false
	for _, p := range secretParams {
		if _, ok := q[p]; ok {
			q[p] = []string{"***"}
			masked = true
		}
	}
	if !masked {
		if u.RawQuery == "" {
			return u.Path
		}
		return u.Path + "?" + u.RawQuery
	}
	return u.Path + "?" + strings.ReplaceAll(q.Encode(), "%2A%2A%2A", "***")
}

func logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(ctxLogger); ok {
		return l.(*slog.Logger)
	}
	return slog.Default()
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
// stream route from a ticket. A token in the query string is refused.
func authenticate(v Verifier, t *Tickets) gin.HandlerFunc {
	return func(c *gin.Context) {
		q := c.Request.URL.Query()
		if q.Has("token") || q.Has("access_token") {
			fail(c, models.WithDetail(models.ErrUnauthorized, "tokens are not accepted in the URL; use the Authorization header or a stream ticket"))
			return
		}
		var id *Identity
		var err error
		switch h := c.GetHeader("Authorization"); {
		case h != "":
			token, ok := strings.CutPrefix(h, "Bearer ")
			if !ok || strings.TrimSpace(token) == "" {
				err = models.WithDetail(models.ErrUnauthorized, "Authorization must be \"Bearer <token>\"")
				break
			}
			id, err = v.Verify(c.Request.Context(), strings.TrimSpace(token))
		case q.Has("ticket") && c.FullPath() == streamRoute:
			id, err = t.Check(q.Get("ticket"), c.Param("room"))
		default:
			err = models.WithDetail(models.ErrUnauthorized, "missing credentials: send Authorization: Bearer <token>")
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

func identity(c *gin.Context) *Identity { return c.MustGet(ctxIdentity).(*Identity) }

func actor(c *gin.Context) models.Actor { return identity(c).Actor }
