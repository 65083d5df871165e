package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/handlers/identity"
)

// TestTokenNeverMakesASecret: `token` with no secret to read (in another
// folder than the server's) exits with 2, makes no file, and says where it
// looked and how to point it at the server's secret; given the server's
// database by --db or CHAT_DB, as the server takes it, it signs with the
// server's secret.
func TestTokenNeverMakesASecret(t *testing.T) {
	server := t.TempDir()
	db := filepath.Join(server, "chat.db")
	t.Setenv("CHAT_JWT_SECRET", "")
	t.Setenv("CHAT_DB", db)
	startAndStop(t, "-addr", "127.0.0.1:0") // the server makes its secret
	raw, err := os.ReadFile(secretPath(db))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(strings.TrimSpace(string(raw)))

	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	token := func(args ...string) (code int, stdout, stderr string) {
		var out, errOut bytes.Buffer
		code = run(context.Background(), append([]string{"token", "--sub", "alice"}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}

	t.Setenv("CHAT_DB", "")
	os.Unsetenv("CHAT_DB")
	code, out, errOut := token()
	if code != 2 || out != "" {
		t.Fatalf("token without a secret: exit %d, stdout %q; want 2 and no token", code, out)
	}
	for _, want := range []string{filepath.Join(elsewhere, "resonate-chat.db.secret"), "--db", "CHAT_DB", "CHAT_JWT_SECRET"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("token without a secret: stderr %q does not say %q", errOut, want)
		}
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("token without a secret left %d files in the folder, want none", len(entries))
	}

	check := func(how string, code int, out, errOut string) {
		t.Helper()
		if code != 0 {
			t.Fatalf("token %s: exit %d: %s", how, code, errOut)
		}
		if _, err := identity.NewHS256(secret).Verify(context.Background(), strings.TrimSpace(out), nil); err != nil {
			t.Errorf("token %s: the server's secret does not verify it: %v", how, err)
		}
	}
	code, out, errOut = token("--db", db)
	check("--db", code, out, errOut)
	code, out, errOut = token("-db=" + db)
	check("-db=", code, out, errOut)
	t.Setenv("CHAT_DB", db)
	code, out, errOut = token()
	check("with CHAT_DB", code, out, errOut)

	t.Setenv("CHAT_DB", "postgres://chat@127.0.0.1/chat")
	if code, _, errOut := token(); code != 2 || !strings.Contains(errOut, "CHAT_JWT_SECRET") {
		t.Errorf("token on PostgreSQL without CHAT_JWT_SECRET: exit %d, %q; want 2 naming CHAT_JWT_SECRET", code, errOut)
	}
	shared := strings.Repeat("s", 40)
	t.Setenv("CHAT_JWT_SECRET", shared)
	code, out, errOut = token()
	if code != 0 {
		t.Fatalf("token with CHAT_JWT_SECRET: exit %d: %s", code, errOut)
	}
	if _, err := identity.NewHS256([]byte(shared)).Verify(context.Background(), strings.TrimSpace(out), nil); err != nil {
		t.Errorf("token with CHAT_JWT_SECRET: %v", err)
	}
}

// TestHelpAndVersion: help, token --help, --help and version answer on
// stdout with exit code 0; a mistake answers on stderr with 2.
func TestHelpAndVersion(t *testing.T) {
	t.Setenv("CHAT_DB", filepath.Join(t.TempDir(), "chat.db"))
	cases := []struct {
		args []string
		code int
		want []string // in stdout, or in stderr when code is not 0
	}{
		{[]string{"help"}, 0, []string{"resonate-chat token", "resonate-chat version", "-addr", "CHAT_ADDR"}},
		{[]string{"--help"}, 0, []string{"resonate-chat token", "-addr"}},
		{[]string{"-h"}, 0, []string{"resonate-chat token", "-addr"}},
		{[]string{"token", "--help"}, 0, []string{"-sub", "-db", "CHAT_DB", "never makes a secret"}},
		{[]string{"help", "token"}, 0, []string{"-sub", "-db"}},
		{[]string{"version"}, 0, []string{"resonate-chat ", "go1."}},
		{[]string{"--version"}, 0, []string{"resonate-chat "}},
		{[]string{"token", "--bogus"}, 2, []string{"-bogus", "token --help"}},
		{[]string{"token", "--sub", "alice", "extra"}, 2, []string{"extra"}},
		{[]string{"token"}, 2, []string{"--sub"}},
		{[]string{"serve"}, 2, []string{"unexpected argument"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code := run(ctx, c.args, &out, &errOut)
			if code != c.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, c.code, out.String(), errOut.String())
			}
			where, name := out.String(), "stdout"
			if c.code != 0 {
				where, name = errOut.String(), "stderr"
			}
			for _, w := range c.want {
				if !strings.Contains(where, w) {
					t.Errorf("%s %q does not hold %q", name, where, w)
				}
			}
			if c.code == 0 && errOut.Len() != 0 {
				t.Errorf("stderr %q, want nothing: help was asked for", errOut.String())
			}
		})
	}
}
