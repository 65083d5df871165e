// Command resonate-chat is the in-room text chat backend for Resonate voice
// rooms. main.go is the composition root: it reads the configuration,
// builds the server (store, broadcaster, verifiers, router) with the
// constructor the tests use, serves, and shuts down in order.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/resonate/resonate-chat/broadcast"
	"github.com/resonate/resonate-chat/handlers/identity"
	"github.com/resonate/resonate-chat/handlers/livekit"
	"github.com/resonate/resonate-chat/handlers/stream"
	"github.com/resonate/resonate-chat/handlers/webhook"
	"github.com/resonate/resonate-chat/models"
	"github.com/resonate/resonate-chat/server"
)

//	@title						resonate-chat
//	@version					1.0
//	@description				Real-time text chat for Resonate voice rooms: REST for rooms, messages and moderation, Server-Sent Events for the live stream. Every error is application/problem+json with a `code`. Get a development token with `resonate-chat token --sub alice`. In Swagger UI: press Authorize and enter `Bearer <token>` (the word Bearer, a space, then the token): this Swagger 2.0 document describes the header as a plain API key, so Swagger UI sends exactly what you enter. The same API as OpenAPI 3.0, for code generators: /openapi.json.
//	@BasePath					/api/v1
//	@securityDefinitions.apikey	Bearer
//	@in							header
//	@name						Authorization
//	@description				Enter `Bearer <token>`: the word Bearer, a space, then the JWT. Swagger UI sends exactly this as the Authorization header.

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code: 2 for bad configuration
// or usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return tokenCommand(args[1:], stdout, stderr)
		case "help":
			return helpCommand(args[1:], stdout, stderr)
		case "version", "-version", "--version":
			fmt.Fprintln(stdout, version())
			return 0
		}
	}
	out := stderr
	if wantsHelp(args) {
		out = stdout
	}
	cfg, err := parseConfig(args, out)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "resonate-chat: configuration:", err)
		return 2
	}
	log := newLogger(stderr, cfg.LogLevel)
	libraryGlobals(cfg, log)
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("server stopped", "err", err)
		return 1
	}
	log.Info("server stopped")
	return 0
}

// libraryGlobals sets what gin and go-redis keep in process-wide variables,
// and nowhere else: gin's mode (release: debug mode prints every route as it
// is registered), and go-redis's logger, which has no per-client option.
func libraryGlobals(cfg *config, log *slog.Logger) {
	gin.SetMode(gin.ReleaseMode)
	if cfg.RedisURL != "" {
		redis.SetLogger(broadcast.RedisLogger{Log: log})
	}
}

func serve(ctx context.Context, cfg *config, log *slog.Logger) error {
	secret, err := loadSecret(cfg, log)
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, serverConfig(cfg, secret, log))
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	// No WriteTimeout: streams live long and set a deadline per write.
	// With TLSConfig, ServeTLS offers HTTP/2 as well, where a browser's
	// streams share one connection instead of six at most.
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 32 << 10,
		TLSConfig: cfg.TLS, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	hs.RegisterOnShutdown(srv.StopStreams)
	served := make(chan error, 2)
	internal, internalURL, err := serveInternal(cfg, srv, log, served)
	if err != nil {
		ln.Close()
		return err
	}
	public := baseURL(ln.Addr())
	if cfg.TLS != nil {
		cfg.Certificate.failed = func(err error) { log.Error("tls certificate", "err", err) }
		public = "https" + strings.TrimPrefix(public, "http")
		go func() { served <- hs.ServeTLS(ln, "", "") }()
	} else {
		go func() { served <- hs.Serve(ln) }()
	}
	swaggerUI := "off (CHAT_SWAGGER)"
	switch {
	case cfg.Exposure.NoSwagger:
	case internal != nil:
		swaggerUI = internalURL + "/swagger/index.html"
	default:
		swaggerUI = public + "/swagger/index.html"
	}
	log.Info("listening", "addr", ln.Addr().String(), "db", dbLabel(cfg.DB),
		"demo_page", public+"/", "swagger_ui", swaggerUI, "openapi", public+"/openapi.json")

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "budget", cfg.Shutdown)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("shutdown budget ran out; closing connections", "err", err)
		hs.Close()
	}
	if err := srv.WaitStreams(sctx); err != nil {
		log.Warn("shutdown budget ran out with streams still open", "err", err)
	}
	if internal != nil {
		internal.Close() // operators' requests (a 30 s profile) must not hold up the exit
	}
	return nil
}

// serveInternal serves the operational routes on CHAT_INTERNAL_ADDR when it
// is set, and returns the server and its URL; nil when it is not set.
func serveInternal(cfg *config, srv *server.Server, log *slog.Logger, served chan<- error) (*http.Server, string, error) {
	if srv.Internal == nil {
		return nil, "", nil
	}
	ln, err := net.Listen("tcp", cfg.InternalAddr)
	if err != nil {
		return nil, "", fmt.Errorf("CHAT_INTERNAL_ADDR: %w", err)
	}
	hs := &http.Server{Handler: srv.Internal, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() { served <- hs.Serve(ln) }()
	log.Info("internal listener", "addr", ln.Addr().String(), "routes", "/metrics /swagger/ /debug/pprof/")
	return hs, baseURL(ln.Addr()), nil
}

// serverConfig is what the server is built from, out of the validated
// configuration.
func serverConfig(cfg *config, secret []byte, log *slog.Logger) server.Config {
	return server.Config{DB: cfg.DB, Store: models.OpenOptions{SQLiteSync: cfg.SQLiteSync, MaxConns: cfg.DBMaxConns}, Secret: secret,
		JWKS:     identity.JWKSOptions{URL: cfg.JWKSURL, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience},
		Appwrite: identity.AppwriteOptions{Endpoint: cfg.AppwriteEndpoint, Project: cfg.AppwriteProject},
		RedisURL: cfg.RedisURL, Redis: broadcast.RedisOptions{ChannelPrefix: cfg.RedisPrefix},
		Chat:    models.Options{HistoryLimit: cfg.HistoryLimit, MaxMessageLength: cfg.MaxLength, SendRate: cfg.SendRate, ReactionRate: cfg.ReactionRate},
		Stream:  stream.Options{Heartbeat: cfg.Heartbeat, Transport: cfg.StreamTransport},
		LiveKit: livekit.Config{APIKey: cfg.LiveKitKey, APISecret: cfg.LiveKitSecret, SyncParticipants: cfg.LiveKitSync},
		Webhook: webhook.Options{URL: cfg.WebhookURL, Secret: []byte(cfg.WebhookSecret)}, WebhookNoContent: cfg.WebhookNoContent,
		Dev: cfg.Dev, Limits: cfg.Limits, Exposure: cfg.Exposure, Log: log}
}

// dbLabel names the database for the log without a password.
func dbLabel(dsn string) string {
	if isPostgres(dsn) {
		return "postgres"
	}
	return dsn
}
