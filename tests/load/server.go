package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
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

// spawned is a server the generator built and started on a fresh SQLite file.
type spawned struct {
	URL       string
	PprofURL  string // the internal listener's /debug/pprof/, when asked for
	Secret    string
	PID       int
	LogPath   string
	dir, keep string
	cmd       *exec.Cmd
	exited    chan error
}

// spawnOptions say what to build and how to run it.
type spawnOptions struct {
	pkg      string // package to build, relative to the module root
	pprof    bool   // serve /debug/pprof/ on an internal listener (CHAT_INTERNAL_ADDR)
	logLevel string
	keep     bool // keep the temporary directory (database, log)
}

// spawn builds the server and starts it with the flood limit off and a known
// secret, waiting until /healthz answers. Every stream comes from 127.0.0.1,
// so the per-address stream limit is lifted too (unless the environment sets
// it); every other setting is the default. The child inherits the raised
// open-file limit: it needs one descriptor per stream, like the generator.
func spawn(ctx context.Context, o spawnOptions) (*spawned, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "resonate-load-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "server")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, o.pkg)
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("go build %s: %w", o.pkg, err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s := &spawned{Secret: hex.EncodeToString(secret), LogPath: filepath.Join(dir, "server.log"), dir: dir, exited: make(chan error, 1)}
	if o.keep {
		s.keep = dir
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s.URL = "http://" + addr
	logf, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.Env = append(os.Environ(),
		"CHAT_ADDR="+addr,
		"CHAT_DB="+filepath.Join(dir, "chat.db"),
		"CHAT_SEND_RATE=off",
		"CHAT_JWT_SECRET="+s.Secret,
		"CHAT_LOG_LEVEL="+o.logLevel)
	if _, set := os.LookupEnv("CHAT_MAX_STREAMS_PER_IP"); !set {
		s.cmd.Env = append(s.cmd.Env, "CHAT_MAX_STREAMS_PER_IP=0")
	}
	if o.pprof {
		iaddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		s.PprofURL = "http://" + iaddr
		s.cmd.Env = append(s.cmd.Env, "CHAT_INTERNAL_ADDR="+iaddr)
	}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	logf.Close() // the child has its own descriptor
	s.PID = s.cmd.Process.Pid
	go func() { s.exited <- s.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, s.checkPprof()
			}
		}
		select {
		case err := <-s.exited:
			return nil, fmt.Errorf("server exited at start (%v); log: %s", err, tail(s.LogPath))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("server did not answer /healthz within a minute; log: %s", tail(s.LogPath))
		}
	}
}

// checkPprof makes sure the profiles can be fetched before the run starts.
func (s *spawned) checkPprof() error {
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
	s.stop()
	return fmt.Errorf("the server serves no /debug/pprof/ on CHAT_INTERNAL_ADDR (%v)", err)
}

// stop sends SIGTERM, waits for the shutdown, and removes the temporary
// directory unless asked to keep it.
func (s *spawned) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	if s.keep == "" {
		os.RemoveAll(s.dir)
	}
}

// countInLog counts the log lines that contain text.
func countInLog(path, text string) int {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(text)) {
			n++
		}
	}
	return n
}

func tail(path string) string {
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
		return "", fmt.Errorf("-spawn must run inside the resonate-chat module")
	}
	return filepath.Dir(mod), nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// procStatus reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status.
func procStatus(pid int, field string) int64 {
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

// cpuSeconds is a process's user+system CPU time so far, from
// /proc/<pid>/stat (clock ticks of 1/100 s, as on every Linux build Go runs on).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name may hold spaces: the fields start after its ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}

// loadAvg is the machine's one-minute load average: on a shared box it says
// how much of the CPU the run really had.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// openFiles counts a process's descriptors.
func openFiles(pid int) int {
	if pid <= 0 {
		return -1
	}
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// raiseFileLimit lifts the soft open-file limit to the hard one: every stream
// is a socket. A spawned server inherits the raised limit.
func raiseFileLimit() (soft, hard uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return rl.Cur, rl.Max, err
		}
	}
	return rl.Cur, rl.Max, nil
}

// fetchProfile saves a pprof endpoint's answer to path.
func fetchProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
