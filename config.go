package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/resonate/resonate-chat/handlers"
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
	// defaultShutdown is how long in-flight requests get to finish on SIGTERM.
	defaultShutdown = 10 * time.Second
)

// config is every setting, from flags and CHAT_* environment variables (a
// flag wins), validated once at start.
type config struct {
	Addr             string
	DB               string
	RedisURL         string
	JWTSecret        string
	JWKSURL          string
	JWTIssuer        string
	JWTAudience      string
	AppwriteEndpoint string
	AppwriteProject  string
	LiveKitKey       string
	LiveKitSecret    string
	HistoryLimit     int
	MaxLength        int
	Heartbeat        time.Duration
	SendRate         models.Rate
	LogLevel         slog.Level
	SQLiteSync       string
	Shutdown         time.Duration
}

// parseConfig reads the configuration; the error says which setting is wrong.
func parseConfig(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("resonate-chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v, ok := os.LookupEnv(name); ok {
			return v
		}
		return def
	}
	var c config
	var historyLimit, maxLength, heartbeat, sendRate, logLevel, shutdown string
	fs.StringVar(&c.Addr, "addr", env("CHAT_ADDR", defaultAddr), "listen address (CHAT_ADDR)")
	fs.StringVar(&c.DB, "db", env("CHAT_DB", defaultDB), "SQLite file, or a postgres:// URL (CHAT_DB)")
	fs.StringVar(&c.RedisURL, "redis-url", env("CHAT_REDIS_URL", ""), "redis:// URL for fan-out between nodes (CHAT_REDIS_URL)")
	fs.StringVar(&c.JWKSURL, "jwks-url", env("CHAT_JWKS_URL", ""), "OpenID Connect JWKS URL (CHAT_JWKS_URL)")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", env("CHAT_JWT_ISSUER", ""), "required iss of JWKS tokens (CHAT_JWT_ISSUER)")
	fs.StringVar(&c.JWTAudience, "jwt-audience", env("CHAT_JWT_AUDIENCE", ""), "required aud of JWKS tokens (CHAT_JWT_AUDIENCE)")
	fs.StringVar(&c.AppwriteEndpoint, "appwrite-endpoint", env("CHAT_APPWRITE_ENDPOINT", ""), "Appwrite endpoint (CHAT_APPWRITE_ENDPOINT)")
	fs.StringVar(&c.AppwriteProject, "appwrite-project", env("CHAT_APPWRITE_PROJECT", ""), "Appwrite project id (CHAT_APPWRITE_PROJECT)")
	fs.StringVar(&historyLimit, "history-limit", env("CHAT_HISTORY_LIMIT", strconv.Itoa(defaultHistoryLimit)), "messages kept per room (CHAT_HISTORY_LIMIT)")
	fs.StringVar(&maxLength, "max-message-length", env("CHAT_MAX_MESSAGE_LENGTH", strconv.Itoa(defaultMaxLength)), "content limit in code points (CHAT_MAX_MESSAGE_LENGTH)")
	fs.StringVar(&heartbeat, "heartbeat", env("CHAT_HEARTBEAT", handlers.DefaultHeartbeat.String()), "keep-alive interval of streams (CHAT_HEARTBEAT)")
	fs.StringVar(&sendRate, "send-rate", env("CHAT_SEND_RATE", defaultSendRate), "per-user flood limit per room, N/duration or off (CHAT_SEND_RATE)")
	fs.StringVar(&logLevel, "log-level", env("CHAT_LOG_LEVEL", "info"), "debug, info, warn or error (CHAT_LOG_LEVEL)")
	fs.StringVar(&c.SQLiteSync, "sqlite-sync", env("CHAT_SQLITE_SYNC", "normal"), "SQLite synchronous: normal (survives a crash) or full (survives power loss) (CHAT_SQLITE_SYNC)")
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
	c.HistoryLimit, _ = intSetting("CHAT_HISTORY_LIMIT", historyLimit, 1, 100_000, check)
	c.MaxLength, _ = intSetting("CHAT_MAX_MESSAGE_LENGTH", maxLength, 1, 100_000, check)
	c.Heartbeat = durationSetting("CHAT_HEARTBEAT", heartbeat, time.Second, time.Hour, check)
	c.Shutdown = durationSetting("CHAT_SHUTDOWN_TIMEOUT", shutdown, time.Second, 10*time.Minute, check)
	rate, err := parseRate(sendRate)
	check(err)
	c.SendRate = rate
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
	return &c, errors.Join(errs...)
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

// parseRate reads "N/duration" (20/30s) or "off".
func parseRate(s string) (models.Rate, error) {
	if s == "off" {
		return models.Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	count, err1 := strconv.Atoi(n)
	d, err2 := time.ParseDuration(per)
	if !ok || err1 != nil || err2 != nil || count < 1 || d < time.Second {
		return models.Rate{}, fmt.Errorf("CHAT_SEND_RATE must be N/duration (like 20/30s) or off, not %q", s)
	}
	return models.Rate{Count: count, Per: d}, nil
}
