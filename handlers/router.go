// Package handlers owns the HTTP surface: the router (which package server
// builds for main, the tests and the benchmarks alike), the middleware (request ids, logging, authentication
// through handlers/identity, security headers, metrics), and thin handlers
// that bind a request, make one call into models, and respond.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/broadcast"
	_ "github.com/resonate/resonate-chat/docs" // the generated OpenAPI spec
	"github.com/resonate/resonate-chat/handlers/identity"
	"github.com/resonate/resonate-chat/handlers/livekit"
	"github.com/resonate/resonate-chat/handlers/stream"
	"github.com/resonate/resonate-chat/models"
)

// Deps are what the server is built from.
type Deps struct {
	Chat        *models.Chat
	Store       *models.Store
	Broadcaster broadcast.Broadcaster
	Verifier    identity.Verifier
	Tickets     *identity.Tickets
	Metrics     *Metrics
	Log         *slog.Logger
	Stream      stream.Options
	// LiveKit enables POST /webhooks/livekit when its key and secret are set.
	LiveKit livekit.Config
	// DevSigner, set only by --dev, enables POST /dev/token, which signs a
	// token for anyone who asks: the demo page's sign-in on a laptop.
	DevSigner *identity.HS256
	// Limits bound streams and unauthenticated requests per client; zero
	// fields are no limit.
	Limits Limits
	// Exposure says whether and where /metrics, Swagger UI and pprof are
	// served.
	Exposure Exposure
}

// Server is the HTTP handler of resonate-chat.
type Server struct {
	http.Handler
	streams *stream.Streams
	// Internal serves the operational routes when Deps.Exposure.Internal is
	// set, for a listener of its own; nil otherwise.
	Internal http.Handler
}

// StopStreams ends every open stream (with a short retry, so clients move on)
// and refuses new ones: call it when http.Server.Shutdown starts, which
// otherwise waits for streams that never end.
func (s *Server) StopStreams() { s.streams.Stop() }

// WaitStreams waits, after StopStreams, until every stream has ended, or ctx
// ends. It knows the streams of every transport, those on connections
// net/http has handed over as well: call it after http.Server.Shutdown, with
// what is left of the budget.
func (s *Server) WaitStreams(ctx context.Context) error { return s.streams.Wait(ctx) }

// New builds the router.
func New(d Deps) *Server {
	l := d.Limits
	srv := &Server{streams: stream.New(stream.Deps{Chat: d.Chat, Log: d.Store, Hub: d.Broadcaster, Options: d.Stream,
		Metrics: stream.Metrics{Open: d.Metrics.OpenStreams, Delivered: d.Metrics.Delivered, SlowDrops: d.Metrics.SlowDrops},
		Limits:  stream.Limits{PerUser: l.StreamsPerUser, PerClient: l.StreamsPerIP, Total: l.StreamsTotal}})}
	// gin's mode is process-wide, so it is not set here: main sets release
	// mode once, and so do the tests' TestMain; in debug mode gin only
	// prints the routes it registers.
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.UseRawPath = true // a user id may hold an escaped "/"
	r.UnescapePathValues = true
	r.RemoveExtraSlash = false
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	if err := trustProxies(r, d.Limits.TrustedProxies); err != nil { // no proxy is trusted unless configured
		d.Log.Error("trusted proxies refused; trusting none", "err", err)
	}
	r.Use(requestLog(d.Log), recovery(), securityHeaders, d.Metrics.observe)
	r.NoRoute(func(c *gin.Context) { fail(c, models.WithDetail(models.ErrNotFound, "no such path")) })
	r.NoMethod(func(c *gin.Context) { fail(c, api.ErrMethodNotAllowed) })

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, api.Health{Status: "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := d.Store.Ping(ctx); err != nil {
			fail(c, models.ErrUnavailable)
			return
		}
		if err := identity.Ready(ctx, d.Verifier); err != nil { // a JWKS verifier without keys yet
			fail(c, err)
			return
		}
		c.JSON(http.StatusOK, api.Health{Status: "ok"})
	})
	srv.Internal = exposeOps(r, d) // /metrics, /swagger/, /debug/pprof/
	registerWeb(r, d)              // the demo page, /openapi.json, and POST /dev/token with --dev
	if d.LiveKit.Enabled() {
		r.POST("/webhooks/livekit", liveKitWebhook(livekit.New(d.Chat, d.LiveKit)))
	}

	rooms := roomHandlers{chat: d.Chat}
	msgs := messageHandlers{chat: d.Chat}
	mod := moderationHandlers{chat: d.Chat}
	reacts := reactionHandlers{chat: d.Chat}
	pins := pinHandlers{chat: d.Chat}
	st := &streamHandlers{chat: d.Chat, tickets: d.Tickets, streams: srv.streams}

	v1 := r.Group("/api/v1", authenticate(d.Verifier, d.Tickets, newAuthGuard(d.Limits.AuthFailures, nil)))
	v1.POST("/rooms", rooms.createRoom)
	room := v1.Group("/rooms/:room", validRoom)
	room.GET("", rooms.getRoom)
	room.DELETE("", rooms.closeRoom)
	room.GET("/me", rooms.me)
	room.POST("/participants", rooms.join)
	room.GET("/participants", rooms.participants)
	room.DELETE("/participants/:user", rooms.removeParticipant)
	room.PUT("/participants/:user/role", rooms.setRole)
	room.POST("/messages", msgs.send)
	room.GET("/messages", msgs.history)
	room.GET("/messages/:id", validMessage, msgs.getMessage)
	room.PATCH("/messages/:id", validMessage, msgs.edit)
	room.DELETE("/messages/:id", validMessage, msgs.deleteMessage)
	room.PUT("/messages/:id/reactions/:emoji", validMessage, reacts.react)
	room.DELETE("/messages/:id/reactions/:emoji", validMessage, reacts.unreact)
	room.DELETE("/messages/:id/reactions", validMessage, reacts.clearReactions)
	room.PUT("/mutes/:user", mod.mute)
	room.DELETE("/mutes/:user", mod.unmute)
	room.PUT("/bans/:user", mod.ban)
	room.DELETE("/bans/:user", mod.unban)
	room.GET("/bans", mod.bans)
	room.PATCH("/chat", mod.updateChat)
	room.PUT("/pin", pins.pin)
	room.DELETE("/pin", pins.unpin)
	room.GET("/moderation-log", mod.moderationLog)
	room.POST("/stream-ticket", st.ticket)
	room.GET("/events", st.stream)
	srv.Handler = r
	return srv
}

// validMessage answers 404 for a message id that no message can have (too
// long, or holding a control character), before it reaches the database:
// PostgreSQL refuses to compare a string with a NUL at all.
func validMessage(c *gin.Context) {
	if id := c.Param("id"); len(id) > 64 || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl) {
		fail(c, models.WithDetail(models.ErrNotFound, "no such message"))
	}
}

// validRoom answers 400 for a malformed room id before anything else runs.
func validRoom(c *gin.Context) {
	if !models.ValidRoomID(c.Param("room")) {
		fail(c, models.Invalidf("room id must match [A-Za-z0-9_-]{1,64}"))
	}
}
