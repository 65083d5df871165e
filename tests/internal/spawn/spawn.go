// Package spawn builds resonate-chat and runs it the ways users do: one node
// on a fresh SQLite file, one node on a fresh PostgreSQL database, or several
// nodes sharing a fresh PostgreSQL database and a Redis. Every node gets the
// same random secret. It serves the load generator and the soak: the one place
// that knows how to start the server, wait for it and stop it.
package spawn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options say what to build and how to run it.
type Options struct {
	Pkg      string // package to build, relative to the module root; "." when empty
	LogLevel string // CHAT_LOG_LEVEL
	Pprof    bool   // serve /debug/pprof/ on an internal listener (CHAT_INTERNAL_ADDR)
	// DB, when set, is a PostgreSQL server's URL (postgres://…) on which
	// the run gets a database of its own, created at start and dropped at
	// Stop. Empty: a SQLite file in the temporary directory.
	DB string
	// Redis, when set, is every node's CHAT_REDIS_URL. The run gets a
	// CHAT_REDIS_PREFIX of its own, so runs sharing one Redis do not mix.
	Redis string
	// Nodes is how many server processes to start (0 means one). More than
	// one needs DB and Redis: that is the only way nodes share rooms.
	Nodes int
	// Env adds settings after the defaults (which it may override).
	Env []string
	// CPU, when above 0, is how many cores each node may use (a cgroup
	// quota of its own; Linux, as root): nodes on machines of their own,
	// modelled on one shared machine.
	CPU float64
}

// Cluster is the started nodes and what they share.
type Cluster struct {
	Nodes  []*Server
	Secret string // CHAT_JWT_SECRET of every node
	DB     string // the SQLite file, or the URL of the run's PostgreSQL database
	Dir    string // the temporary directory: binary, SQLite database, logs
	dropDB func() error
}

// Server is one running server process.
type Server struct {
	URL      string
	PprofURL string // the internal listener, when Options.Pprof
	Secret   string // CHAT_JWT_SECRET: HS256 tokens are signed with it
	PID      int
	DB       string // CHAT_DB: the SQLite file or the PostgreSQL URL
	Dir      string // the cluster's temporary directory
	LogPath  string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited, with waitErr set
	waitErr  error
	owner    *Cluster  // set by Start: Stop then releases the directory and database
	cpu      *cpuGroup // with Options.CPU
}

// Start builds and starts one server (Options.Nodes is ignored) and returns
// it; its Stop also removes what the run created.
func Start(ctx context.Context, o Options) (*Server, error) {
	o.Nodes = 1
	c, err := StartCluster(ctx, o)
	if err != nil {
		return nil, err
	}
	s := c.Nodes[0]
	s.owner = c
	return s, nil
}

// StartCluster builds the server and starts its nodes together, as a
// deployment would (the migrations' advisory lock lets one of them migrate),
// with the flood limit off and a known secret, then waits until each answers
// /healthz. Every stream a test client opens comes from 127.0.0.1, so the
// per-address stream limit is lifted too (unless the environment sets it);
// every other setting is the default unless Options.Env says otherwise. The
// children inherit the caller's environment, so a raised open-file limit too.
func StartCluster(ctx context.Context, o Options) (*Cluster, error) {
	o.Nodes = max(o.Nodes, 1)
	if o.Nodes > 1 && (o.DB == "" || o.Redis == "") {
		return nil, errors.New("several nodes need a PostgreSQL server and a Redis to share")
	}
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
	c := &Cluster{Secret: randomHex(32), DB: filepath.Join(dir, "chat.db"), Dir: dir}
	fail := func(err error) (*Cluster, error) {
		_ = c.Stop(false)
		return nil, err
	}
	bin := filepath.Join(dir, "server")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, o.Pkg)
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fail(fmt.Errorf("go build %s: %w", o.Pkg, err))
	}
	if o.DB != "" {
		if c.DB, c.dropDB, err = freshDatabase(ctx, o.DB); err != nil {
			return fail(err)
		}
	}
	env := append(os.Environ(), "CHAT_DB="+c.DB, "CHAT_SEND_RATE=off", "CHAT_JWT_SECRET="+c.Secret)
	if o.Redis != "" {
		env = append(env, "CHAT_REDIS_URL="+o.Redis, "CHAT_REDIS_PREFIX=spawn-"+randomHex(6)+":room:")
	}
	if o.LogLevel != "" {
		env = append(env, "CHAT_LOG_LEVEL="+o.LogLevel)
	}
	if _, set := os.LookupEnv("CHAT_MAX_STREAMS_PER_IP"); !set {
		env = append(env, "CHAT_MAX_STREAMS_PER_IP=0")
	}
	c.Nodes = make([]*Server, o.Nodes)
	errs := make([]error, o.Nodes)
	var wg sync.WaitGroup
	for i := range c.Nodes {
		wg.Go(func() {
			s := &Server{Secret: c.Secret, DB: c.DB, Dir: dir, exited: make(chan struct{}),
				LogPath: filepath.Join(dir, "server"+NodeSuffix(i, o.Nodes)+".log")}
			c.Nodes[i] = s
			// A free address may be taken by another process (or node)
			// before the server binds it: try again on another.
			for try := 0; try < 3; try++ {
				if errs[i] = s.start(bin, env, o); errs[i] == nil || !strings.Contains(Tail(s.LogPath), "address already in use") {
					break
				}
				s.exited = make(chan struct{})
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	return c, nil
}

// NodeSuffix tells a node's files apart: "" when it is the only node,
// ".node<i>" among several.
func NodeSuffix(i, nodes int) string {
	if nodes <= 1 {
		return ""
	}
	return ".node" + strconv.Itoa(i)
}

// start runs the binary on free addresses and waits until it serves.
func (s *Server) start(bin string, env []string, o Options) error {
	addr, err := FreeAddr()
	if err != nil {
		return err
	}
	s.URL = "http://" + addr
	// Nodes start at once from one env: appending in place would let one
	// node's address overwrite another's.
	env = append(slices.Clip(env), "CHAT_ADDR="+addr)
	if o.Pprof {
		iaddr, err := FreeAddr()
		if err != nil {
			return err
		}
		s.PprofURL = "http://" + iaddr
		env = append(env, "CHAT_INTERNAL_ADDR="+iaddr)
	}
	logf, err := os.Create(s.LogPath)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin)
	if o.CPU > 0 {
		if s.cpu == nil { // a start tried again keeps its group
			g, err := newCPUGroup("resonate-chat-"+randomHex(4), o.CPU)
			if err != nil {
				return err
			}
			s.cpu = g
		}
		name, args := s.cpu.wrap(bin)
		cmd = exec.Command(name, args...)
	}
	cmd.Stdout, cmd.Stderr, cmd.Env = logf, logf, append(env, o.Env...)
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.PID = cmd, cmd.Process.Pid
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()
	if err := s.waitHealthy(time.Minute); err != nil {
		return err
	}
	return s.checkPprof()
}

func (s *Server) waitHealthy(within time.Duration) error {
	deadline := time.Now().Add(within)
	// A request that hangs must not use up the whole wait.
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		resp, err := client.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-s.exited:
			return fmt.Errorf("server exited at start (%v); log: %s", s.waitErr, Tail(s.LogPath))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server did not answer %s/healthz within %s (last: %v); log: %s", s.URL, within, last, Tail(s.LogPath))
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
	return fmt.Errorf("the server serves no /debug/pprof/ on CHAT_INTERNAL_ADDR (%v)", err)
}

// Exited is closed when the server process has ended; Err then says how.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Err is how the process ended, once Exited is closed.
func (s *Server) Err() error {
	<-s.exited
	return s.waitErr
}

// Stop ends the process (see halt). For a server from Start it then removes
// the temporary directory and drops the PostgreSQL database, unless keep.
func (s *Server) Stop(keep bool) error {
	s.halt()
	if s.owner != nil {
		return s.owner.release(keep)
	}
	return nil
}

// halt sends SIGTERM and waits for the shutdown, killing the server after
// 30 s (a shutdown that takes longer is stuck, not slow).
func (s *Server) halt() {
	if s == nil || s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	if s.cpu != nil {
		s.cpu.remove()
	}
}

// Stop ends every node at once, then removes the temporary directory and
// drops the PostgreSQL database, unless keep.
func (c *Cluster) Stop(keep bool) error {
	var wg sync.WaitGroup
	for _, s := range c.Nodes {
		wg.Go(s.halt)
	}
	wg.Wait()
	return c.release(keep)
}

func (c *Cluster) release(keep bool) error {
	if keep {
		return nil
	}
	err := os.RemoveAll(c.Dir)
	if c.dropDB != nil {
		err = errors.Join(err, c.dropDB())
	}
	return err
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

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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
