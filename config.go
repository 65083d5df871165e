package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resonate/resonate-chat/broadcast"
	"github.com/resonate/resonate-chat/handlers"
	"github.com/resonate/resonate-chat/handlers/stream"
	"github.com/resonate/resonate-chat/models"
)

// Defaults, with the reason for each.
const (
	defaultAddr = ":8080"
	// defaultDB sits in the working directory so `go run .` needs no setup.
	defaultDB = "resonate-chat.db"
	// defaultHistoryLimit keeps a voice room's recent chat: enough to catch
	// up on joining, small enough that retention stays cheap.
	defaultHistoryLimit = 100
	defaultMaxLength    = 2000
	// defaultSendRate stops floods but not a fast typist.
	defaultSendRate = "20/30s"
	// defaultReactionRate lets a user react to every message of a busy
	// room but stops a script toggling reactions to flood the streams.
	defaultReactionRate = "60/30s"
	// defaultShutdown is how long in-flight requests get to finish on SIGTERM.
	defaultShutdown = 10 * time.Second
)

// config is every setting, from flags and CHAT_* environment variables (a
// flag wins), validated once at start.
type config struct {
	Addr             string
	DB               string
	RedisURL         string
	RedisPrefix      string
	JWTSecret        string
	JWKSURL          string
	JWTIssuer        string
	JWTAudience      string
	AppwriteEndpoint string
	AppwriteProject  string
	LiveKitKey       string
	LiveKitSecret    string
	LiveKitSync      bool
	HistoryLimit     int
	MaxLength        int
	Heartbeat        time.Duration
	SendRate         models.Rate
	ReactionRate     models.Rate
	LogLevel         slog.Level
	SQLiteSync       string
	DBMaxConns       int
	Shutdown         time.Duration
	// Dev serves POST /dev/token, which signs tokens for anyone: for the demo
	// page on a laptop, never on a reachable server.
	Dev bool
	// TLS, set by CHAT_TLS_CERT and CHAT_TLS_KEY, serves HTTPS and HTTP/2
	// on the public listener; nil serves plain HTTP/1.1.
	TLS *tls.Config
	// Certificate is what TLS serves, reloaded when its files change.
	Certificate *certificate
	// StreamTransport forces net/http's response for every stream when it
	// is stream.Standard.
	StreamTransport stream.Transport
	// Limits, Exposure and InternalAddr: see config_limits.go.
	Limits       handlers.Limits
	Exposure     handlers.Exposure
	InternalAddr string
	// WebhookURL, with WebhookSecret, gets notifications (see
	// config_webhook.go); WebhookNoContent leaves message text out.
	WebhookURL       string
	WebhookSecret    string
	WebhookNoContent bool
}

// parseConfig reads the configuration; the error says which setting is wrong.
func parseConfig(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("resonate-chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printServerUsage(fs) }
	env := func(name, def string) string {
		if v, ok := os.LookupEnv(name); ok {
			return v
		}
		return def
	}
	var c config
	var dbMaxConns, historyLimit, maxLength, heartbeat, sendRate, reactionRate, logLevel, shutdown, liveKitSync string
	fs.StringVar(&c.Addr, "addr", env("CHAT_ADDR", defaultAddr), "listen address (CHAT_ADDR)")
	fs.StringVar(&c.DB, "db", env("CHAT_DB", defaultDB), "SQLite file, or a postgres:// URL (CHAT_DB)")
	fs.StringVar(&dbMaxConns, "db-max-conns", env("CHAT_DB_MAX_CONNS", strconv.Itoa(models.DefaultMaxConns)),
		"PostgreSQL only: connections this node may hold; a request past them waits for one (CHAT_DB_MAX_CONNS)")
	fs.StringVar(&c.RedisURL, "redis-url", env("CHAT_REDIS_URL", ""), "redis:// URL for fan-out between nodes (CHAT_REDIS_URL)")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", env("CHAT_REDIS_PREFIX", broadcast.DefaultChannelPrefix),
		"start of every room's Redis channel; deployments sharing one Redis need different ones (CHAT_REDIS_PREFIX)")
	fs.StringVar(&c.JWKSURL, "jwks-url", env("CHAT_JWKS_URL", ""), "OpenID Connect JWKS URL (CHAT_JWKS_URL)")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", env("CHAT_JWT_ISSUER", ""), "required iss of JWKS tokens (CHAT_JWT_ISSUER)")
	fs.StringVar(&c.JWTAudience, "jwt-audience", env("CHAT_JWT_AUDIENCE", ""), "required aud of JWKS tokens (CHAT_JWT_AUDIENCE)")
	fs.StringVar(&c.AppwriteEndpoint, "appwrite-endpoint", env("CHAT_APPWRITE_ENDPOINT", ""), "Appwrite endpoint (CHAT_APPWRITE_ENDPOINT)")
	fs.StringVar(&c.AppwriteProject, "appwrite-project", env("CHAT_APPWRITE_PROJECT", ""), "Appwrite project id (CHAT_APPWRITE_PROJECT)")
	fs.StringVar(&liveKitSync, "livekit-sync-participants", env("CHAT_LIVEKIT_SYNC_PARTICIPANTS", "false"), "join and remove chat participants as they join and leave the LiveKit room (CHAT_LIVEKIT_SYNC_PARTICIPANTS)")
	fs.StringVar(&historyLimit, "history-limit", env("CHAT_HISTORY_LIMIT", strconv.Itoa(defaultHistoryLimit)), "messages kept per room (CHAT_HISTORY_LIMIT)")
	fs.StringVar(&maxLength, "max-message-length", env("CHAT_MAX_MESSAGE_LENGTH", strconv.Itoa(defaultMaxLength)), "content limit in code points (CHAT_MAX_MESSAGE_LENGTH)")
	fs.StringVar(&heartbeat, "heartbeat", env("CHAT_HEARTBEAT", stream.DefaultHeartbeat.String()), "keep-alive interval of streams (CHAT_HEARTBEAT)")
	fs.StringVar(&sendRate, "send-rate", env("CHAT_SEND_RATE", defaultSendRate), "per-user flood limit per room, N/duration or off (CHAT_SEND_RATE)")
	fs.StringVar(&reactionRate, "reaction-rate", env("CHAT_REACTION_RATE", defaultReactionRate), "per-user flood limit of reactions per room, N/duration or off (CHAT_REACTION_RATE)")
	fs.StringVar(&logLevel, "log-level", env("CHAT_LOG_LEVEL", "info"), "debug, info, warn or error (CHAT_LOG_LEVEL)")
	fs.StringVar(&c.SQLiteSync, "sqlite-sync", env("CHAT_SQLITE_SYNC", "normal"), "SQLite synchronous: normal (survives a crash) or full (survives power loss) (CHAT_SQLITE_SYNC)")
	dev, devErr := strconv.ParseBool(env("CHAT_DEV", "false"))
	fs.BoolVar(&c.Dev, "dev", dev, "development mode: POST /dev/token signs tokens for anyone; listens on "+defaultDevAddr+" unless -addr or CHAT_ADDR says otherwise (CHAT_DEV=true)")
	var limits limitSettings
	limits.register(fs, env, &c)
	var serving serveSettings
	serving.register(fs, env)
	var hooks webhookSettings
	hooks.register(fs, env)
	fs.StringVar(&shutdown, "shutdown-timeout", env("CHAT_SHUTDOWN_TIMEOUT", defaultShutdown.String()), "how long SIGTERM waits for requests (CHAT_SHUTDOWN_TIMEOUT)")
	// Secrets come from the environment only: a flag would show in ps.
	c.JWTSecret = os.Getenv("CHAT_JWT_SECRET")
	c.LiveKitKey = os.Getenv("CHAT_LIVEKIT_API_KEY")
	c.LiveKitSecret = os.Getenv("CHAT_LIVEKIT_API_SECRET")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if devErr != nil {
		check(fmt.Errorf("CHAT_DEV must be true or false, not %q", os.Getenv("CHAT_DEV")))
	}
	c.DBMaxConns, _ = intSetting("CHAT_DB_MAX_CONNS", dbMaxConns, 2, 10_000, check)
	c.HistoryLimit, _ = intSetting("CHAT_HISTORY_LIMIT", historyLimit, 1, 100_000, check)
	c.MaxLength, _ = intSetting("CHAT_MAX_MESSAGE_LENGTH", maxLength, 1, 100_000, check)
	c.Heartbeat = durationSetting("CHAT_HEARTBEAT", heartbeat, time.Second, time.Hour, check)
	c.Shutdown = durationSetting("CHAT_SHUTDOWN_TIMEOUT", shutdown, time.Second, 10*time.Minute, check)
	rate, err := parseRate("CHAT_SEND_RATE", sendRate)
	check(err)
	c.SendRate = rate
	rate, err = parseRate("CHAT_REACTION_RATE", reactionRate)
	check(err)
	c.ReactionRate = rate
	check(c.LogLevel.UnmarshalText([]byte(logLevel)))
	if c.SQLiteSync != "normal" && c.SQLiteSync != "full" {
		check(fmt.Errorf("CHAT_SQLITE_SYNC must be normal or full, not %q", c.SQLiteSync))
	}
	if c.DB == "" {
		check(errors.New("CHAT_DB must not be empty"))
	}
	if isPostgres(c.DB) && c.JWTSecret == "" {
		check(errors.New("CHAT_JWT_SECRET is required with PostgreSQL: every node must sign and check tickets with the same secret"))
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		check(errors.New("CHAT_JWT_SECRET must be at least 32 characters"))
	}
	if c.RedisURL != "" {
		if _, err := redis.ParseURL(c.RedisURL); err != nil { // its text may hold the password
			check(errors.New("CHAT_REDIS_URL must be a redis:// or rediss:// URL"))
		}
	}
	if n := len(c.RedisPrefix); n == 0 || n > 100 || strings.ContainsFunc(c.RedisPrefix, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		check(errors.New("CHAT_REDIS_PREFIX must be 1–100 bytes without spaces or control characters"))
	}
	devAddr(&c, fs)
	check(c.checkIdentity(liveKitSync))
	limits.apply(&c, check)
	serving.apply(&c, check)
	hooks.apply(&c, check)
	return &c, errors.Join(errs...)
}

// checkIdentity validates the identity provider and LiveKit settings, which
// come in pairs, and reads CHAT_LIVEKIT_SYNC_PARTICIPANTS.
func (c *config) checkIdentity(liveKitSync string) error {
	var errs []error
	sync, err := strconv.ParseBool(liveKitSync)
	if err != nil {
		errs = append(errs, fmt.Errorf("CHAT_LIVEKIT_SYNC_PARTICIPANTS must be true or false, not %q", liveKitSync))
	}
	c.LiveKitSync = sync
	if c.JWKSURL != "" && !isHTTPURL(c.JWKSURL) {
		errs = append(errs, fmt.Errorf("CHAT_JWKS_URL must be an http(s) URL, not %q", c.JWKSURL))
	}
	if c.JWKSURL == "" && (c.JWTIssuer != "" || c.JWTAudience != "") {
		errs = append(errs, errors.New("CHAT_JWT_ISSUER and CHAT_JWT_AUDIENCE apply to JWKS tokens: set CHAT_JWKS_URL too"))
	}
	if (c.AppwriteEndpoint == "") != (c.AppwriteProject == "") {
		errs = append(errs, errors.New("CHAT_APPWRITE_ENDPOINT and CHAT_APPWRITE_PROJECT go together"))
	}
	if c.AppwriteEndpoint != "" && !isHTTPURL(c.AppwriteEndpoint) {
		errs = append(errs, fmt.Errorf("CHAT_APPWRITE_ENDPOINT must be an http(s) URL like https://cloud.appwrite.io/v1, not %q", c.AppwriteEndpoint))
	}
	if (c.LiveKitKey == "") != (c.LiveKitSecret == "") {
		errs = append(errs, errors.New("CHAT_LIVEKIT_API_KEY and CHAT_LIVEKIT_API_SECRET go together"))
	}
	if c.LiveKitSync && c.LiveKitKey == "" {
		errs = append(errs, errors.New("CHAT_LIVEKIT_SYNC_PARTICIPANTS needs CHAT_LIVEKIT_API_KEY and CHAT_LIVEKIT_API_SECRET"))
	}
	return errors.Join(errs...)
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func intSetting(name, v string, lo, hi int, check func(error)) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		err = fmt.Errorf("%s must be an integer from %d to %d, not %q", name, lo, hi, v)
		check(err)
	}
	return n, err
}

func durationSetting(name, v string, lo, hi time.Duration, check func(error)) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		check(fmt.Errorf("%s must be a duration from %s to %s, not %q", name, lo, hi, v))
	}
	return d
}

// parseRate reads the setting name: "N/duration" (20/30s) or "off".
func parseRate(name, s string) (models.Rate, error) {
	if s == "off" {
		return models.Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	count, err1 := strconv.Atoi(n)
	d, err2 := time.ParseDuration(per)
	if !ok || err1 != nil || err2 != nil || count < 1 || d < time.Second {
		return models.Rate{}, fmt.Errorf("%s must be N/duration (like 20/30s) or off, not %q", name, s)
	}
	return models.Rate{Count: count, Per: d}, nil
}
