package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writePair writes a fresh self-signed certificate and its key, stamped at.
func writePair(t *testing.T, certFile, keyFile string, at time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(at.UnixNano()), NotBefore: at.Add(-time.Hour), NotAfter: at.Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	for f, b := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

// A renewed certificate is served from the first handshake after the next
// check, without a restart; a renewal that does not load keeps the served
// one and is reported.
func TestCertificateReloads(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	start := time.Now().Add(-time.Hour)
	writePair(t, certFile, keyFile, start)
	c, err := loadCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var failures []error
	c.failed = func(err error) { failures = append(failures, err) }
	serial := func() int64 {
		pair, _ := c.get(&tls.ClientHelloInfo{})
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.SerialNumber.Int64()
	}
	first := serial()

	renewed := start.Add(time.Minute)
	writePair(t, certFile, keyFile, renewed)
	if got := serial(); got != first {
		t.Fatalf("before the next check: serial %d, want the first %d", got, first)
	}
	c.checked = c.checked.Add(-certCheck)
	if got := serial(); got != renewed.UnixNano() {
		t.Fatalf("after the check: serial %d, want the renewed %d", got, renewed.UnixNano())
	}

	if err := os.WriteFile(keyFile, []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.checked = c.checked.Add(-certCheck)
	if got := serial(); got != renewed.UnixNano() || len(failures) != 1 {
		t.Fatalf("a pair that does not load: serial %d and %d failures, want %d and 1", got, len(failures), renewed.UnixNano())
	}
}
