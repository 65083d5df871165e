package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestMain sets gin's process-wide mode as main does, so that building the
// router prints no routes.
func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

func TestNewServes(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(context.Background(), Config{DB: filepath.Join(t.TempDir(), "chat.db"), Secret: []byte("a secret of thirty-two bytes!!!!"), Log: log})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer srv.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK {
			t.Errorf("GET %s: got %d, want 200", path, w.Code)
		}
	}
}

func TestNewRefusesABadDatabase(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir() // a directory is no SQLite file
	if srv, err := New(context.Background(), Config{DB: dir, Log: log}); err == nil {
		srv.Close()
		t.Fatal("New on a directory: got a server, want an error")
	}
}
