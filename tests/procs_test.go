package tests

// Real server processes for the multi-node tests: the binary built once with
// -race, nodes started on free ports against a fresh PostgreSQL database and a
// shared Redis, killed with SIGKILL or stopped with SIGTERM, and plain HTTP
// and SSE helpers that report errors instead of failing the test, for worker
// goroutines and for nodes that may be dead.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to create test databases
)

var build struct {
	once sync.Once
	path string
	err  error
}

// serverBinary builds the server with -race, once per test run. The output
// path is stable, so go build skips relinking an up-to-date binary and runs
// leave no litter behind; it is one per source tree (a hash of its path), so
// two checkouts tested at once never run each other's binary.
func serverBinary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		tree := sha256.Sum256([]byte(root))
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("resonate-chat-test-%d-%x", os.Getuid(), tree[:4]))
		if build.err = os.MkdirAll(dir, 0o700); build.err != nil {
			return
		}
		build.path = filepath.Join(dir, "resonate-chat")
		cmd := exec.Command("go", "build", "-race", "-o", build.path, ".")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// redisTestURL is the Redis the multi-node tests use (CHAT_TEST_REDIS).
func redisTestURL(t testing.TB) string {
	u := os.Getenv("CHAT_TEST_REDIS")
	if u == "" {
		t.Skip("CHAT_TEST_REDIS is not set")
	}
	return u
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freshDatabase creates an empty PostgreSQL database for the test and drops
// it (with whatever still holds it) when the test ends.
func freshDatabase(t testing.TB) string {
	t.Helper()
	base := postgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := "chat_test_" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Cluster is a set of server processes sharing one database and one Redis.
type Cluster struct {
	t      testing.TB
	DB     string
	Redis  string
	Secret []byte
	Env    []string // extra CHAT_* settings of every node
	Nodes  []*Node

	mu  sync.Mutex
	all []*Node // every process started, listening or not
}

// stopAll stops every node at once (each takes a second or so) and reports
// data races and, for a failed test, the nodes' last log lines.
func (c *Cluster) stopAll() {
	c.mu.Lock()
	all := c.all
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.Stop()
		}()
	}
	wg.Wait()
	for _, n := range all {
		n.report(c.t)
	}
}

// Node is one server process.
type Node struct {
	Name   string
	URL    string
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *nodeLog
}

// StartCluster starts n nodes on a fresh database and the test Redis (or the
// Redis at redisURL when it is not empty). env adds CHAT_* settings.
func StartCluster(t testing.TB, n int, redisURL string, env ...string) *Cluster {
	t.Helper()
	if redisURL == "" {
		redisURL = redisTestURL(t)
	}
	serverBinary(t) // here, not in the goroutines below: it may fail the test
	db := freshDatabase(t)
	c := &Cluster{t: t, DB: db, Redis: redisURL, Secret: []byte(randomHex(24)), Env: env}
	t.Cleanup(c.stopAll)
	// Nodes start together, as a deployment would: the migrations' advisory
	// lock lets exactly one of them migrate.
	nodes := make([]*Node, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = c.start(fmt.Sprintf("node%d", i))
		}()
	}
	wg.Wait()
	c.Nodes = nodes
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return c
}

// StartNode starts one more node.
func (c *Cluster) StartNode(name string) *Node {
	c.t.Helper()
	serverBinary(c.t)
	n, err := c.start(name)
	if err != nil {
		c.t.Fatal(err)
	}
	c.Nodes = append(c.Nodes, n)
	return n
}

func (c *Cluster) start(name string) (*Node, error) {
	bin := build.path
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHAT_") {
			env = append(env, kv)
		}
	}
	env = append(env, "CHAT_ADDR=127.0.0.1:0", "CHAT_DB="+c.DB, "CHAT_REDIS_URL="+c.Redis,
		"CHAT_JWT_SECRET="+string(c.Secret), "CHAT_SEND_RATE=off", "CHAT_HISTORY_LIMIT=100000",
		"CHAT_SHUTDOWN_TIMEOUT=2s", "CHAT_LOG_LEVEL=info", "CHAT_STREAM_TRANSPORT="+string(streamTransport()), "GORACE=halt_on_error=0 exitcode=66")
	env = append(env, c.Env...)
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.SysProcAttr = dieWithTest()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	n := &Node{Name: name, cmd: cmd, exited: make(chan struct{}), logs: newNodeLog(filepath.Join(c.t.TempDir(), name+".log"))}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go n.logs.consume(stderr, addr)
	go func() {
		_ = cmd.Wait()
		close(n.exited)
	}()
	c.mu.Lock()
	c.all = append(c.all, n)
	c.mu.Unlock()
	select {
	case a := <-addr:
		n.URL = "http://" + a
		return n, nil
	case <-n.exited:
		return nil, fmt.Errorf("%s exited before listening:\n%s", name, n.logs.tail(40))
	case <-time.After(60 * time.Second):
		n.Kill()
		return nil, fmt.Errorf("%s did not listen within 60s:\n%s", name, n.logs.tail(40))
	}
}

// Alive reports whether the process still runs.
func (n *Node) Alive() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (n *Node) Kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// Stop ends the process with SIGTERM (a graceful shutdown) and waits for it.
func (n *Node) Stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(15 * time.Second):
		n.Kill()
	}
}

func (n *Node) report(t testing.TB) {
	if n.logs.raced() {
		t.Errorf("%s reported a data race:\n%s", n.Name, n.logs.tail(80))
	} else if t.Failed() {
		t.Logf("last lines of %s's log:\n%s", n.Name, n.logs.tail(30))
	}
}

// nodeLog keeps a node's whole log in a file and its last lines in memory.
type nodeLog struct {
	path string
	mu   sync.Mutex
	f    *os.File
	last []string
	race bool
}

func newNodeLog(path string) *nodeLog {
	f, _ := os.Create(path)
	return &nodeLog{path: path, f: f}
}

// fileContains reports whether the whole log so far holds s.
func (l *nodeLog) fileContains(s string) bool {
	b, _ := os.ReadFile(l.path)
	return bytes.Contains(b, []byte(s))
}

const nodeLogTail = 200

// consume reads the node's stderr; the address of the "listening" line goes to
// addr.
func (l *nodeLog) consume(r io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var rec struct{ Msg, Addr string }
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			addr <- rec.Addr
		}
		l.mu.Lock()
		if l.f != nil {
			fmt.Fprintln(l.f, line)
		}
		l.last = append(l.last, line)
		if len(l.last) > nodeLogTail {
			l.last = l.last[len(l.last)-nodeLogTail:]
		}
		if strings.Contains(line, "WARNING: DATA RACE") {
			l.race = true
		}
		l.mu.Unlock()
	}
	l.mu.Lock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	l.mu.Unlock()
}

func (l *nodeLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	from := max(len(l.last)-n, 0)
	return strings.Join(l.last[from:], "\n")
}

func (l *nodeLog) raced() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.race
}

// Server is a harness view of node i, so the harness's Client works on it.
func (c *Cluster) Server(i int) *Server {
	return &Server{URL: c.Nodes[i].URL, Secret: c.Secret, closed: true}
}

// Client is user talking to node i.
func (c *Cluster) Client(t testing.TB, user string, i int) *Client {
	return c.Server(i).Client(t, user)
}

// Token is a day-long token for user, good on every node.
func (c *Cluster) Token(t testing.TB, user string) string {
	return c.Server(0).Token(t, user, false, 24*time.Hour)
}

// httpClient bounds every call, so a dead node costs a test seconds, not
// minutes.
var httpClient = &http.Client{Timeout: 10 * time.Second}

// call sends a JSON request to base+path and decodes a 2xx answer into out.
// It never fails the test: worker goroutines and calls to nodes that may be
// dead report the error.
func call(base, token, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %v", b, err)
		}
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

// sseConn is an SSE connection read by a goroutine into Events; Done is
// closed when the connection ends, for whatever reason.
type sseConn struct {
	Events chan Event
	Done   chan struct{}
	cancel context.CancelFunc
}

// dialStream opens room's stream on base, resuming after lastID when it is not
// empty. A non-200 answer is an error.
func dialStream(base, token, room, lastID string) (*sseConn, error) {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/rooms/"+room+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("stream %s: %d %s", room, resp.StatusCode, b)
	}
	c := &sseConn{Events: make(chan Event, 100000), Done: make(chan struct{}), cancel: cancel}
	go c.read(resp.Body)
	return c, nil
}

func (c *sseConn) read(body io.ReadCloser) {
	defer close(c.Done)
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var ev Event
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if ev.Type != "" {
				ev.Data = strings.Join(data, "\n")
				c.Events <- ev
			}
			ev, data = Event{}, nil
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID = value
		case "event":
			ev.Type = value
		case "data":
			data = append(data, value)
		}
	}
}

// Close ends the connection.
func (c *sseConn) Close() { c.cancel() }

// redisProc is a redis-server of the test's own, to crash and restart
// without disturbing other tests.
type redisProc struct {
	t      testing.TB
	port   int
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startRedis starts a redis-server on a free port, stopped when the test ends.
// Without redis-server on PATH the test skips, or fails when
// CHAT_TEST_REDIS_SERVER is set (as .ci/run sets it).
func startRedis(t testing.TB) *redisProc {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CHAT_TEST_REDIS_SERVER") != "" {
			t.Fatal("CHAT_TEST_REDIS_SERVER is set but redis-server is not on PATH (apt-get install redis-server)")
		}
		t.Skip("redis-server is not on PATH; set CHAT_TEST_REDIS_SERVER=1 to make this a failure")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &redisProc{t: t, port: ln.Addr().(*net.TCPAddr).Port, dir: t.TempDir()}
	ln.Close()
	p.Start()
	t.Cleanup(p.Kill)
	return p
}

// URL is the redis:// URL of the server.
func (p *redisProc) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", p.port) }

// Start starts the server (again) on its port and waits until it answers.
func (p *redisProc) Start() {
	p.t.Helper()
	p.cmd = exec.Command("redis-server", "--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", p.dir, "--daemonize", "no")
	p.cmd.SysProcAttr = dieWithTest()
	p.exited = make(chan struct{})
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(p.cmd, p.exited)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), time.Second)
		if err == nil {
			_, err = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 7)
			if err == nil {
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				_, err = io.ReadFull(c, buf)
			}
			c.Close()
			if err == nil && string(buf) == "+PONG\r\n" {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("redis-server on port %d did not answer: %v", p.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the server with SIGKILL: everything it held is gone.
func (p *redisProc) Kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.cmd = nil
}

// Do sends one command and returns the first line of the answer.
func (p *redisProc) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// dieWithTest makes a child process die with the test binary, even when go
// test kills it on a timeout before any cleanup can run.
func dieWithTest() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// onEachDatabase runs fn, as parallel subtests, against a server on a fresh
// SQLite file and one on a fresh PostgreSQL database (which skips without
// CHAT_TEST_POSTGRES).
func onEachDatabase(t *testing.T, fn func(t *testing.T, s *Server)) {
	onEachDatabaseWith(t, Options{}, fn)
}

// onEachDatabaseWith is onEachDatabase with servers started with o (its DB
// set for PostgreSQL).
func onEachDatabaseWith(t *testing.T, o Options, fn func(t *testing.T, s *Server)) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			o := o
			if db == "postgres" {
				o.DB = freshDatabase(t)
			}
			fn(t, StartServer(t, o))
		})
	}
}
