package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/tests/internal/spawn"
)

var (
	shellBlock     = regexp.MustCompile("(?ms)^```(?:sh|bash|shell)\\s*$(.*?)^```\\s*$")
	backgroundedGo = regexp.MustCompile(`(?m)^[^#\n]*\bgo run\b[^#\n]*&\s*(#.*)?$`)
)

// TestReadmeStartStop: the README starts the server in a way that stops. No
// shell line backgrounds `go run` (a signal to `go run` does not reach the
// server it started, so `kill %1` leaves the port taken); it builds the binary
// and runs it. Doing just that in a fresh folder: the server starts, `token`
// in the same folder signs a token it accepts, and Ctrl-C (SIGINT) or `kill`
// (SIGTERM) stops it with exit code 0, a last log line saying so, and the
// port free again.
func TestReadmeStartStop(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := shellBlock.FindAllSubmatch(readme, -1)
	var shell []byte
	for _, b := range blocks {
		shell = append(shell, b[1]...)
	}
	if len(blocks) < 3 {
		t.Fatalf("found %d shell blocks in README.md; the reader is broken", len(blocks))
	}
	for _, line := range backgroundedGo.FindAll(shell, -1) {
		t.Errorf("README.md backgrounds go run, which cannot be stopped by its job: %q", line)
	}
	for _, want := range []string{"go build -o resonate-chat .", "./resonate-chat "} {
		if !bytes.Contains(shell, []byte(want)) {
			t.Errorf("README.md's commands do not include %q", want)
		}
	}
	if !bytes.Contains(readme, []byte("Ctrl-C stops it")) {
		t.Error("README.md does not say how to stop the server (Ctrl-C)")
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "resonate-chat")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -o resonate-chat .: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { readmeRun(t, dir, sig) })
	}
}

// readmeRun starts ./resonate-chat in dir as the README does, gets a token
// with ./resonate-chat token there, uses it, and stops the server with sig.
func readmeRun(t *testing.T, dir string, sig syscall.Signal) {
	addr, err := spawn.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"CHAT_ADDR=" + addr}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHAT_") { // the README's user has none set
			env = append(env, kv)
		}
	}
	srv := exec.Command("./resonate-chat")
	srv.Dir, srv.Env = dir, env
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	exited := make(chan error, 1)
	var last string
	waitFor := func(msg string) bool {
		deadline := time.After(30 * time.Second)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					return false
				}
				last = line
				var rec struct{ Msg string }
				if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
					return true
				}
			case <-deadline:
				return false
			}
		}
	}
	if !waitFor("listening") {
		_ = srv.Process.Kill()
		t.Fatalf("./resonate-chat did not start; last log line %q", last)
	}

	tokenCmd := exec.Command("./resonate-chat", "token", "--sub", "alice", "--name", "Alice")
	tokenCmd.Dir, tokenCmd.Env = dir, env
	tok, err := tokenCmd.Output()
	if err != nil {
		_ = srv.Process.Kill()
		t.Fatalf("./resonate-chat token beside the server: %v", err)
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/rooms", strings.NewReader(`{"name":"Friday jam"}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
		t.Errorf("create a room with the token: %v %v, want 201", resp, err)
	} else {
		resp.Body.Close()
	}

	if err := srv.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	stopped := waitFor("server stopped")
	go func() { exited <- srv.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after %s: %v, want exit code 0", sig, err)
		}
	case <-time.After(30 * time.Second):
		_ = srv.Process.Kill()
		t.Fatalf("%s did not stop the server within 30 s", sig)
	}
	if !stopped {
		t.Errorf("after %s the last log line is %q, want \"server stopped\"", sig, last)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("after %s the port is still taken: %v", sig, err)
	}
	ln.Close()
}
