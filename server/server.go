// Package server builds the whole resonate-chat server from one Config: the
// store, the broadcaster (in-process, or fanned out through Redis), the token
// verifiers, the use cases and the router. main, the end-to-end tests and the
// benchmarks all build it here, so the wiring is written once; serving it on
// a listener and shutting down are the caller's.
package server

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/broadcast"
	"github.com/resonate/resonate-chat/handlers"
	"github.com/resonate/resonate-chat/handlers/identity"
	"github.com/resonate/resonate-chat/handlers/livekit"
	"github.com/resonate/resonate-chat/handlers/stream"
	"github.com/resonate/resonate-chat/handlers/webhook"
	"github.com/resonate/resonate-chat/models"
)

// Config is everything the server is built from. main fills it from flags and
// CHAT_* variables, validated; the tests fill it directly. Zero fields take
// their package's defaults.
type Config struct {
	// DB is a SQLite file path or a postgres:// URL.
	DB    string
	Store models.OpenOptions
	// Secret signs and checks HS256 tokens, and derives the stream tickets'
	// key.
	Secret []byte
	// TicketTTL is how long a stream ticket opens streams; 0 is
	// identity.TicketTTL.
	TicketTTL time.Duration
	// JWKS, when its URL is set, also accepts an OpenID Connect provider's
	// tokens; its keys load in the background until New's ctx ends.
	JWKS identity.JWKSOptions
	// Appwrite, when its Endpoint is set, also accepts Appwrite's JWTs.
	Appwrite identity.AppwriteOptions
	// Verifiers are tried after the configured ones (HS256, JWKS, Appwrite,
	// in that order): the tests' stand-ins for identity providers.
	Verifiers []identity.Verifier
	// RedisURL, when set, fans events out to the other nodes through Redis.
	RedisURL string
	Redis    broadcast.RedisOptions
	// Queue bounds each subscriber's queue; 0 is broadcast.DefaultQueue.
	Queue int
	// Chat are the use cases' limits; its Observer is the server's metrics.
	Chat   models.Options
	Stream stream.Options
	// LiveKit enables POST /webhooks/livekit when its key and secret are set.
	LiveKit livekit.Config
	// Webhook, when its URL is set, sends notifications (mentions, rooms
	// closed) to it through the outbox; its Log and Observer are the
	// server's. WebhookNoContent leaves message text out of them.
	Webhook          webhook.Options
	WebhookNoContent bool
	// Dev serves POST /dev/token, which signs a token for anyone who asks.
	Dev bool
	// Limits bound streams and unauthenticated requests per client.
	Limits handlers.Limits
	// Exposure says whether and where /metrics, Swagger UI and pprof are
	// served.
	Exposure handlers.Exposure
	// Log is the server's logger; required.
	Log *slog.Logger
}

// Server is a built server: its HTTP handlers (public and, when configured,
// internal), StopStreams and WaitStreams for shutdown, and the parts the
// tests and benchmarks reach into.
type Server struct {
	*handlers.Server
	Store       *models.Store
	Broadcaster broadcast.Broadcaster
	Chat        *models.Chat
	Metrics     *handlers.Metrics
	// Webhook delivers the outbox; nil without a webhook URL.
	Webhook *webhook.Sender
}

// New opens the store, picks the broadcaster, chains the verifiers and builds
// the router. Close releases what it opened.
func New(ctx context.Context, cfg Config) (*Server, error) {
	log := cfg.Log
	store, err := models.Open(ctx, cfg.DB, cfg.Store)
	if err != nil {
		return nil, err
	}
	metrics := handlers.NewMetrics()
	store.Observe(metrics)
	hub, err := broadcaster(cfg, broadcast.NewMemory(handlers.EventSource{Store: store}, log))
	if err != nil {
		store.Close()
		return nil, err
	}
	opts := cfg.Chat
	opts.Observer = metrics
	var sender *webhook.Sender
	if cfg.Webhook.URL != "" {
		wo := cfg.Webhook
		wo.Log, wo.Observer = cmp.Or(wo.Log, log), metrics
		sender = webhook.New(store, wo)
		opts.Notify, opts.Outboxed = api.NotificationEncoder(!cfg.WebhookNoContent), sender.Kick
		log.Info("notifications go to a webhook", "content", !cfg.WebhookNoContent)
	}
	chat := models.NewChat(store, api.EncodeEvent, handlers.NewNotifier(hub, metrics, log), opts)
	deps := handlers.Deps{Chat: chat, Store: store, Broadcaster: hub, Verifier: verifier(ctx, cfg),
		Tickets: identity.NewTickets(cfg.Secret).WithTTL(cfg.TicketTTL), Metrics: metrics, Log: log,
		Stream: cfg.Stream, LiveKit: cfg.LiveKit, Limits: cfg.Limits, Exposure: cfg.Exposure}
	if cfg.Dev {
		deps.DevSigner = identity.NewHS256(cfg.Secret)
	}
	return &Server{Server: handlers.New(deps), Store: store, Broadcaster: hub, Chat: chat, Metrics: metrics, Webhook: sender}, nil
}

// Close stops the webhook sender, then closes the broadcaster, then the
// store. Call it once the streams have ended (StopStreams, then WaitStreams
// or the HTTP server's Close).
func (s *Server) Close() {
	if s.Webhook != nil {
		s.Webhook.Close()
	}
	s.Broadcaster.Close()
	s.Store.Close()
}

// verifier chains the token verifiers in the contract's order: HS256
// (always), JWKS, Appwrite, then cfg.Verifiers. The JWKS keys load in the
// background until ctx ends; /readyz waits for them.
func verifier(ctx context.Context, cfg Config) identity.Verifier {
	vs := []identity.Verifier{identity.NewHS256(cfg.Secret)}
	if cfg.JWKS.URL != "" {
		jo := cfg.JWKS
		jo.Log = cmp.Or(jo.Log, cfg.Log)
		j := identity.NewJWKS(jo)
		go j.Run(ctx)
		vs = append(vs, j)
	}
	if cfg.Appwrite.Endpoint != "" {
		ao := cfg.Appwrite
		ao.Log = cmp.Or(ao.Log, cfg.Log)
		vs = append(vs, identity.NewAppwrite(ao))
	}
	return identity.NewChain(append(vs, cfg.Verifiers...)...)
}

// broadcaster returns the in-process hub, or with cfg.RedisURL the Redis
// fan-out between nodes over it (closing that closes the hub too).
func broadcaster(cfg Config, mem *broadcast.Memory) (broadcast.Broadcaster, error) {
	if cfg.Queue > 0 {
		mem.SetQueue(cfg.Queue)
	}
	if cfg.RedisURL == "" {
		return mem, nil
	}
	cfg.Log.Info("events fan out to other nodes through redis")
	return broadcast.DialRedis(cfg.RedisURL, mem, cfg.Log, cfg.Redis)
}
