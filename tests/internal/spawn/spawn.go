// Package spawn builds resonate-chat and runs it on a fresh SQLite file with
// a random secret, for the load generator and the soak: the one place that
// knows how to start the server, wait for it and stop it.
package spawn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options say what to build and how to run it.
type Options struct {
	Pkg      string // package to build, relative to the module root; "." when empty
	LogLevel string // CHAT_LOG_LEVEL
	Pprof    bool   // serve /debug/pprof/ on an internal listener (CHAT_INTERNAL_ADDR)
	// Env adds settings after the defaults (which it may override).
	Env []string
}

// Server is a running server process.
type Server struct {
	URL      string
	PprofURL string // the internal listener, when Options.Pprof
	Secret   string // CHAT_JWT_SECRET: HS256 tokens are signed with it
	PID      int
	DB       string // the SQLite file
	Dir      string // the temporary directory: binary, database, log
	LogPath  string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited, with waitErr set
	waitErr  error
}

// Start builds the server and starts it with the flood limit off and a known
// secret, then waits until /healthz answers. Every stream a test client opens
// comes from 127.0.0.1, so the per-address stream limit is lifted too (unless
// the environment sets it); every other setting is the default unless
// Options.Env says otherwise. The child inherits the caller's environment, so
// a raised open-file limit as well.
func Start(ctx context.Context, o Options) (*Server, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	if o.Pkg == "" {
		o.Pkg = "."
	}
	dir, err := os.MkdirTemp("", "resonate-chat-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "server")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, o.Pkg)
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("go build %s: %w", o.Pkg, err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s := &Server{Secret: hex.EncodeToString(secret), DB: filepath.Join(dir, "chat.db"), Dir: dir,
		LogPath: filepath.Join(dir, "server.log"), exited: make(chan struct{})}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	s.URL = "http://" + addr
	env := append(os.Environ(), "CHAT_ADDR="+addr, "CHAT_DB="+s.DB, "CHAT_SEND_RATE=off", "CHAT_JWT_SECRET="+s.Secret)
	if o.LogLevel != "" {
		env = append(env, "CHAT_LOG_LEVEL="+o.LogLevel)
	}
	if _, set := os.LookupEnv("CHAT_MAX_STREAMS_PER_IP"); !set {
		env = append(env, "CHAT_MAX_STREAMS_PER_IP=0")
	}
	if o.Pprof {
		iaddr, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		s.PprofURL = "http://" + iaddr
		env = append(env, "CHAT_INTERNAL_ADDR="+iaddr)
	}
	logf, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	s.cmd = exec.Command(bin)
	s.cmd.Stdout, s.cmd.Stderr, s.cmd.Env = logf, logf, append(env, o.Env...)
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.PID = s.cmd.Process.Pid
	go func() { s.waitErr = s.cmd.Wait(); close(s.exited) }()
	if err := s.waitHealthy(time.Minute); err != nil {
		return nil, err
	}
	return s, s.checkPprof()
}

func (s *Server) waitHealthy(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if resp, err := http.Get(s.URL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("server exited at start (%v); log: %s", s.waitErr, Tail(s.LogPath))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop(true)
			return fmt.Errorf("server did not answer /healthz within %s; log: %s", within, Tail(s.LogPath))
		}
	}
}

// checkPprof makes sure the profiles can be fetched before a run starts.
func (s *Server) checkPprof() error {
	if s.PprofURL == "" {
		return nil
	}
	resp, err := http.Get(s.PprofURL + "/debug/pprof/")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	s.Stop(false)
	return fmt.Errorf("the server serves no /debug/pprof/ on CHAT_INTERNAL_ADDR (%v)", err)
}

// Exited is closed when the server process has ended; Err then says how.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Err is how the process ended, once Exited is closed.
func (s *Server) Err() error {
	<-s.exited
	return s.waitErr
}

// Stop sends SIGTERM, waits for the shutdown (killing the server after 30 s),
// and removes the temporary directory unless keep.
func (s *Server) Stop(keep bool) {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	if !keep {
		os.RemoveAll(s.Dir)
	}
}

// Tail is the end of a log file, for an error message.
func Tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run inside the resonate-chat module")
	}
	return filepath.Dir(mod), nil
}

// FreeAddr is a loopback address with a port nothing listens on now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// ProcStatus reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status; -1 when
// it cannot.
func ProcStatus(pid int, field string) int64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}
