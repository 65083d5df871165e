package tests

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nginxRecipe is the README's nginx configuration, which the tests run.
const nginxRecipe = "../deploy/nginx.conf"

// nginxProxy is an nginx, Debian's package, running the README's recipe in
// front of a test server: TLS and HTTP/2 towards clients, HTTP/1.1 to the
// server. It runs as a child of the test with a prefix of its own on free
// ports, never as the system's service.
type nginxProxy struct {
	URL   string // https://127.0.0.1:port
	roots *x509.CertPool
	dir   string
}

// startNginx puts nginx in front of s. Without nginx installed the test
// skips, unless CHAT_TEST_NGINX is set (.ci/run sets it): there it fails.
func startNginx(t *testing.T, s *Server) *nginxProxy {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin, err = exec.LookPath("/usr/sbin/nginx") // not on a user's PATH on Debian
	}
	if err != nil {
		if os.Getenv("CHAT_TEST_NGINX") != "" {
			t.Fatalf("CHAT_TEST_NGINX is set but nginx is not installed: %v", err)
		}
		t.Skip("nginx is not installed (apt-get install nginx; CHAT_TEST_NGINX=1 makes this a failure)")
	}
	dir := t.TempDir()
	p := &nginxProxy{dir: dir}
	var certFile, keyFile string
	p.roots, certFile, keyFile = testCertificate(t, dir)
	addr := freePort(t)
	p.URL = "https://" + addr

	recipe, err := os.ReadFile(nginxRecipe)
	if err != nil {
		t.Fatal(err)
	}
	site := string(recipe)
	// The recipe's example values, and what this test runs instead: each
	// must be in the recipe exactly once, so that the test runs the recipe
	// and nothing else.
	for _, r := range [][2]string{
		{"listen 443 ssl http2;", "listen " + addr + " ssl http2;"},
		{"server 127.0.0.1:8080;", "server " + strings.TrimPrefix(s.URL, "http://") + ";"},
		{"/etc/ssl/certs/chat.example.com.pem", certFile},
		{"/etc/ssl/private/chat.example.com.key", keyFile},
	} {
		if n := strings.Count(site, r[0]); n != 1 {
			t.Fatalf("%s holds %q %d times, want once: the test substitutes it", nginxRecipe, r[0], n)
		}
		site = strings.Replace(site, r[0], r[1], 1)
	}
	writeFile(t, filepath.Join(dir, "resonate-chat.conf"), site)
	writeFile(t, filepath.Join(dir, "nginx.conf"), nginxMain(dir))

	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"),
		"-g", "daemon off; master_process on;")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The master dies with the test process; it takes its worker along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // fast shutdown: open streams end now
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("nginx error log:\n%s%s", out.String(), p.errorLog())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("nginx exited: %v\n%s%s", err, out.String(), p.errorLog())
		default:
		}
		conn, err := tls.Dial("tcp", p.URL[len("https://"):], &tls.Config{RootCAs: p.roots})
		if err == nil {
			conn.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not answer on %s: %v\n%s", p.URL, err, p.errorLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nginxMain is the main configuration around the recipe: everything nginx
// writes stays in dir.
func nginxMain(dir string) string {
	var user string
	if os.Geteuid() == 0 { // workers would run as nobody, who cannot write in dir
		user = "user root root;\n"
	}
	tmp := func(name string) string { return filepath.Join(dir, "tmp-"+name) }
	return fmt.Sprintf(`%sworker_processes 1;
pid %s;
events { worker_connections 512; }
http {
    access_log %s;
    client_body_temp_path %s;
    proxy_temp_path %s;
    fastcgi_temp_path %s;
    uwsgi_temp_path %s;
    scgi_temp_path %s;
    include %s;
}
`, user, filepath.Join(dir, "nginx.pid"), filepath.Join(dir, "access.log"),
		tmp("body"), tmp("proxy"), tmp("fastcgi"), tmp("uwsgi"), tmp("scgi"), filepath.Join(dir, "resonate-chat.conf"))
}

func (p *nginxProxy) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "error.log"))
	return string(b)
}

// HTTPClient returns a client that trusts the proxy's certificate, speaks
// HTTP/2 to it, and connects from from, a loopback address of its own (any
// of 127/8 is this host), so that the server has a client address to tell
// from nginx's 127.0.0.1. streamWindow, when not zero, is the HTTP/2 flow
// control window of each of its responses: what nginx may send ahead of
// what the caller has read.
func (p *nginxProxy) HTTPClient(t *testing.T, from string, streamWindow int) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext:       d.DialContext,
		TLSClientConfig:   &tls.Config{RootCAs: p.roots},
		ForceAttemptHTTP2: true,
	}
	if streamWindow > 0 {
		tr.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerStream: streamWindow}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// Client returns a client for user who reaches s through the proxy from the
// address from.
func (p *nginxProxy) Client(t *testing.T, s *Server, user, from string) *Client {
	t.Helper()
	return s.Via(p.URL, p.HTTPClient(t, from, 0)).Client(t, user)
}

// testCertificate makes a CA and a certificate it signs for 127.0.0.1 and
// chat.example.com, valid for a day; it returns the CA as a pool, and the
// certificate's and its key's PEM files in dir. No key is ever committed.
func testCertificate(t *testing.T, dir string) (*x509.CertPool, string, string) {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "resonate-chat test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "chat.example.com"},
		DNSNames: []string{"chat.example.com"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "chat.pem"), filepath.Join(dir, "chat.key")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return roots, certFile, keyFile
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
