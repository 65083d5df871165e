package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
)

// secretPath is where the generated secret lives: beside the database.
func secretPath(db string) string { return db + ".secret" }

// loadSecret returns CHAT_JWT_SECRET, or the secret kept beside the SQLite
// database, generating it (mode 0600) on first start. It logs where, never what.
// Only the server generates: `token` reads with readSecret.
func loadSecret(cfg *config, log *slog.Logger) ([]byte, error) {
	if cfg.JWTSecret != "" {
		return []byte(cfg.JWTSecret), nil
	}
	path := secretPath(cfg.DB)
	secret, err := readSecret(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return loadSecret(cfg, log) // another process won the race
		}
		if err != nil {
			return nil, fmt.Errorf("create secret file: %w", err)
		}
		secret = []byte(hex.EncodeToString(raw))
		if _, err := f.Write(append(secret, '\n')); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		if log != nil {
			log.Info("generated a development JWT secret; set CHAT_JWT_SECRET to use your own", "path", path)
		}
		return secret, nil
	}
	if err != nil {
		return nil, err
	}
	if log != nil {
		log.Info("using the JWT secret kept beside the database", "path", path)
	}
	return secret, nil
}

// readSecret reads the secret kept at path. An error wrapping
// fs.ErrNotExist means there is none.
func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 32 {
		return nil, fmt.Errorf("secret file %s is too short", path)
	}
	return []byte(s), nil
}
