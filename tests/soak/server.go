package main

import (
	"bufio"
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

// server is the resonate-chat process the soak built and started.
type server struct {
	url, secret, db, dir string
	pid                  int
	cmd                  *exec.Cmd
	exited               chan error
}

// spawn builds the module's server and starts it on a fresh SQLite file with
// the flood limit off and the stream limits out of the way (every stream comes
// from one address), then waits for /healthz.
func spawn(ctx context.Context) (*server, error) {
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(root)) == os.DevNull {
		return nil, fmt.Errorf("run the soak inside the resonate-chat module")
	}
	dir, err := os.MkdirTemp("", "resonate-soak-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "server")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir, build.Stdout, build.Stderr = filepath.Dir(strings.TrimSpace(string(root))), os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("go build: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	s := &server{url: "http://" + addr, secret: hex.EncodeToString(b), db: filepath.Join(dir, "chat.db"), dir: dir, exited: make(chan error, 1)}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.Env = append(os.Environ(), "CHAT_ADDR="+addr, "CHAT_DB="+s.db, "CHAT_JWT_SECRET="+s.secret,
		"CHAT_SEND_RATE=off", "CHAT_LOG_LEVEL=warn", "CHAT_MAX_STREAMS_PER_IP=0", "CHAT_MAX_STREAMS_PER_USER=0")
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.pid = s.cmd.Process.Pid
	go func() { s.exited <- s.cmd.Wait() }()
	for deadline := time.Now().Add(time.Minute); ; {
		if resp, err := http.Get(s.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-s.exited:
			return nil, fmt.Errorf("server exited at start: %v (log in %s)", err, dir)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop(true)
			return nil, fmt.Errorf("server did not answer /healthz within a minute (log in %s)", dir)
		}
	}
}

// stop sends SIGTERM and waits; the directory goes unless kept.
func (s *server) stop(keep bool) {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
	}
	if keep {
		fmt.Println("soak: kept", s.dir)
		return
	}
	os.RemoveAll(s.dir)
}

// metrics reads the named gauges from the server's /metrics.
func (s *server) metrics(names ...string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		for _, n := range names {
			if name == n {
				out[n], _ = strconv.ParseFloat(val, 64)
			}
		}
	}
	return out
}

// walBytes is the size of the SQLite write-ahead log, 0 when there is none.
func (s *server) walBytes() int64 {
	fi, err := os.Stat(s.db + "-wal")
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (s *server) rssKB() int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}
