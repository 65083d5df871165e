package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/handlers/identity"
)

// TestMain sets gin's process-wide mode as main does (libraryGlobals), so
// that building the router prints no routes.
func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// lockedBuffer is the server's stderr, read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestBadConfigurationExitsWithTwo(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // in the message
	}{
		{"flag out of range", []string{"-history-limit", "0"}, nil, "CHAT_HISTORY_LIMIT"},
		{"env not a number", nil, map[string]string{"CHAT_MAX_MESSAGE_LENGTH": "lots"}, "CHAT_MAX_MESSAGE_LENGTH"},
		{"bad send rate", nil, map[string]string{"CHAT_SEND_RATE": "20 per minute"}, "CHAT_SEND_RATE"},
		{"bad heartbeat", []string{"-heartbeat", "5ms"}, nil, "CHAT_HEARTBEAT"},
		{"bad log level", nil, map[string]string{"CHAT_LOG_LEVEL": "chatty"}, "level"},
		{"short secret", nil, map[string]string{"CHAT_JWT_SECRET": "short"}, "CHAT_JWT_SECRET"},
		{"postgres without a secret", nil, map[string]string{"CHAT_DB": "postgres://x@127.0.0.1/db"}, "CHAT_JWT_SECRET is required"},
		{"stray argument", []string{"serve"}, nil, "unexpected argument"},
		{"blank redis prefix", []string{"-redis-prefix", "two words"}, nil, "CHAT_REDIS_PREFIX"},
		{"certificate without a key", []string{"-tls-cert", "cert.pem"}, nil, "CHAT_TLS_CERT and CHAT_TLS_KEY go together"},
		{"key without a certificate", nil, map[string]string{"CHAT_TLS_KEY": "key.pem"}, "CHAT_TLS_CERT and CHAT_TLS_KEY go together"},
		{"certificate that does not load", nil, map[string]string{"CHAT_TLS_CERT": "missing.pem", "CHAT_TLS_KEY": "missing.pem"}, "CHAT_TLS_CERT and CHAT_TLS_KEY: open missing.pem"},
		{"unknown stream transport", []string{"-stream-transport", "fast"}, nil, "CHAT_STREAM_TRANSPORT"},
		{"webhook without a secret", []string{"-webhook-url", "https://hooks.example.com/chat"}, nil, "CHAT_WEBHOOK_SECRET is required"},
		{"webhook secret without a URL", nil, map[string]string{"CHAT_WEBHOOK_SECRET": strings.Repeat("s", 32)}, "CHAT_WEBHOOK_URL is not"},
		{"short webhook secret", nil, map[string]string{"CHAT_WEBHOOK_URL": "https://hooks.example.com/chat", "CHAT_WEBHOOK_SECRET": "short"}, "CHAT_WEBHOOK_SECRET must be at least 32"},
		{"webhook URL not http", nil, map[string]string{"CHAT_WEBHOOK_URL": "ftp://hooks.example.com", "CHAT_WEBHOOK_SECRET": strings.Repeat("s", 32)}, "CHAT_WEBHOOK_URL must be an http(s) URL"},
		{"webhook content neither on nor off", []string{"-webhook-content", "no"}, nil, "CHAT_WEBHOOK_CONTENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CHAT_DB", filepath.Join(t.TempDir(), "chat.db"))
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			if got := run(context.Background(), tt.args, &stdout, &stderr); got != 2 {
				t.Fatalf("exit code %d, want 2 (stderr %q)", got, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not name %q", stderr.String(), tt.want)
			}
		})
	}
}

// TestGeneratedSecret: without CHAT_JWT_SECRET the server makes one beside the
// database (mode 0600) on first start, says where but never what, keeps it
// across restarts, and `token` signs with that same secret.
func TestGeneratedSecret(t *testing.T) {
	db := filepath.Join(t.TempDir(), "chat.db")
	t.Setenv("CHAT_DB", db)
	t.Setenv("CHAT_JWT_SECRET", "")

	logs := startAndStop(t, "-addr", "127.0.0.1:0")
	info, err := os.Stat(secretPath(db))
	if err != nil {
		t.Fatalf("secret file: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("secret file mode %o, want 600", mode)
	}
	raw, _ := os.ReadFile(secretPath(db))
	secret := strings.TrimSpace(string(raw))
	if !strings.Contains(logs, secretPath(db)) {
		t.Errorf("log does not say where the secret is: %s", logs)
	}
	if strings.Contains(logs, secret) {
		t.Errorf("log holds the secret itself")
	}

	var tok, errOut bytes.Buffer
	if code := run(context.Background(), []string{"token", "--sub", "alice", "--name", "Alice", "--ttl", "1h"}, &tok, &errOut); code != 0 {
		t.Fatalf("token: exit %d: %s", code, errOut.String())
	}
	id, err := identity.NewHS256([]byte(secret)).Verify(context.Background(), strings.TrimSpace(tok.String()), nil)
	if err != nil {
		t.Fatalf("the printed token does not verify with the kept secret: %v", err)
	}
	if id.Actor.UserID != "alice" || id.Actor.Name != "Alice" || id.Actor.Admin {
		t.Errorf("token identity %+v, want alice/Alice, not admin", id.Actor)
	}

	startAndStop(t, "-addr", "127.0.0.1:0")
	again, _ := os.ReadFile(secretPath(db))
	if string(again) != string(raw) {
		t.Errorf("the secret changed across starts")
	}
}

// startAndStop runs the server with args until it logs "listening", stops it
// as Ctrl-C would, and returns its log once it has exited with 0.
func startAndStop(t *testing.T, args ...string) string {
	t.Helper()
	logs, stop := startRun(t, args...)
	if code := stop(); code != 0 {
		t.Errorf("server exit code %d after shutdown, want 0: %s", code, logs.String())
	}
	return logs.String()
}

// startRun runs the server with args until it logs "listening". stop ends it
// as Ctrl-C would and returns its exit code.
func startRun(t *testing.T, args ...string) (logs *lockedBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &lockedBuffer{}
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, args, &bytes.Buffer{}, logs) }()
	stop = func() int { cancel(); return <-exited }
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"listening"`) {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("server did not start: %s", logs.String())
		}
		select {
		case code := <-exited:
			cancel()
			t.Fatalf("server exited with %d: %s", code, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return logs, stop
}

// TestDevListensOnLoopback: --dev (or CHAT_DEV) listens on 127.0.0.1:8080 by
// default, since it hands out tokens; an explicit CHAT_ADDR or -addr wins.
func TestDevListensOnLoopback(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", nil, nil, ":8080"},
		{"--dev", []string{"--dev"}, nil, "127.0.0.1:8080"},
		{"CHAT_DEV", nil, map[string]string{"CHAT_DEV": "true"}, "127.0.0.1:8080"},
		{"--dev=false", []string{"--dev=false"}, map[string]string{"CHAT_DEV": "true"}, ":8080"},
		{"--dev with CHAT_ADDR", []string{"--dev"}, map[string]string{"CHAT_ADDR": ":9090"}, ":9090"},
		{"--dev with -addr", []string{"--dev", "-addr", "0.0.0.0:9091"}, nil, "0.0.0.0:9091"},
		{"-addr then --dev", []string{"-addr", ":9092", "--dev"}, nil, ":9092"},
		{"CHAT_DEV with CHAT_ADDR", nil, map[string]string{"CHAT_DEV": "true", "CHAT_ADDR": "[::]:9093"}, "[::]:9093"},
		{"--dev with CHAT_ADDR=:8080", []string{"--dev"}, map[string]string{"CHAT_ADDR": ":8080"}, ":8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CHAT_DB", filepath.Join(t.TempDir(), "chat.db"))
			for _, k := range []string{"CHAT_ADDR", "CHAT_DEV"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := parseConfig(tt.args, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Addr != tt.want {
				t.Errorf("listen address %q, want %q", cfg.Addr, tt.want)
			}
		})
	}
}
