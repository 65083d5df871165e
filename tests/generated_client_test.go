package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGeneratedClient: an integrator's path. Generate TypeScript types from
// the live /openapi.json with openapi-typescript, type-check a small client
// written against them (tests/client-ts/client.ts) with tsc, and run it with
// Node against the server: it creates a room, sends a message and reads it
// back. Needs npm and the registry (npm ci); skipped without npm unless
// CHAT_TEST_NODE is set, as .ci/run sets it.
func TestGeneratedClient(t *testing.T) {
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("CHAT_TEST_NODE") != "" {
			t.Fatal("CHAT_TEST_NODE is set but npm is not on PATH")
		}
		t.Skip("npm is not on PATH; set CHAT_TEST_NODE=1 to make this a failure")
	}
	dir, err := filepath.Abs("client-ts")
	if err != nil {
		t.Fatal(err)
	}
	// npm ci installs exactly package-lock.json's versions; the first run
	// downloads them, later ones come from npm's cache.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(nil, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")

	s := StartServer(t, Options{})
	bin := func(name string) string { return filepath.Join(dir, "node_modules", ".bin", name) }
	if err := os.RemoveAll(filepath.Join(dir, "gen")); err != nil {
		t.Fatal(err)
	}
	run(nil, bin("openapi-typescript"), s.URL+"/openapi.json", "-o", "gen/schema.d.ts")
	run(nil, bin("tsc"), "-p", ".")
	out := run([]string{"CHAT_URL=" + s.URL, "CHAT_TOKEN=" + s.Token(t, "tess", false, time.Hour), "CHAT_ROOM=" + uniqueRoom(t)},
		"node", "gen/js/client.js")
	if !strings.Contains(out, `"ok":true`) {
		t.Fatalf("the client did not report success:\n%s", out)
	}
	t.Logf("client: %s", strings.TrimSpace(out))
}
