package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/resonate/resonate-chat/handlers"
)

// secretPath is where the generated secret lives: beside the database.
func secretPath(db string) string { return db + ".secret" }

// loadSecret returns CHAT_JWT_SECRET, or the secret kept beside the SQLite
// database, generating it (mode 0600) on first start. It logs where, never what.
func loadSecret(cfg *config, log *slog.Logger) ([]byte, error) {
	if cfg.JWTSecret != "" {
		return []byte(cfg.JWTSecret), nil
	}
	path := secretPath(cfg.DB)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		b = []byte(hex.EncodeToString(raw) + "\n")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return loadSecret(cfg, log) // another process won the race
		}
		if err != nil {
			return nil, fmt.Errorf("create secret file: %w", err)
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		if log != nil {
			log.Info("generated a development JWT secret; set CHAT_JWT_SECRET to use your own", "path", path)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	} else if log != nil {
		log.Info("using the JWT secret kept beside the database", "path", path)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 32 {
		return nil, fmt.Errorf("secret file %s is too short", path)
	}
	return []byte(s), nil
}

// tokenCommand prints an HS256 token signed with the server's secret:
// resonate-chat token --sub alice --name Alice [--admin] [--ttl 24h].
func tokenCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("resonate-chat token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "", "user id (required)")
	name := fs.String("name", "", "display name")
	admin := fs.Bool("admin", false, "platform admin: may manage any room")
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *sub == "" || len([]rune(*sub)) > 128 || *ttl <= 0 {
		fmt.Fprintln(stderr, "resonate-chat token: --sub (1–128 characters) is required and --ttl must be positive")
		return 2
	}
	cfg, err := parseConfig(nil, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "resonate-chat: configuration:", err)
		return 2
	}
	secret, err := loadSecret(cfg, nil)
	if err != nil {
		fmt.Fprintln(stderr, "resonate-chat token:", err)
		return 1
	}
	tok, err := handlers.NewHS256(secret).Sign(*sub, *name, *admin, *ttl)
	if err != nil {
		fmt.Fprintln(stderr, "resonate-chat token:", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}
