package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/resonate/resonate-chat/handlers/stream"
)

// serveSettings are the raw values of how the public listener serves: TLS,
// and the transport of streams.
type serveSettings struct {
	cert, key, transport string
}

// register declares the settings on fs.
func (s *serveSettings) register(fs *flag.FlagSet, env func(name, def string) string) {
	fs.StringVar(&s.cert, "tls-cert", env("CHAT_TLS_CERT", ""), "PEM certificate (chain) file: serve HTTPS with HTTP/2; with -tls-key (CHAT_TLS_CERT)")
	fs.StringVar(&s.key, "tls-key", env("CHAT_TLS_KEY", ""), "PEM private key file of -tls-cert (CHAT_TLS_KEY)")
	fs.StringVar(&s.transport, "stream-transport", env("CHAT_STREAM_TRANSPORT", string(stream.Auto)),
		"auto: streams take their connection over where it is safe (Linux, HTTP/1.1, plain TCP); standard: always net/http's response (CHAT_STREAM_TRANSPORT)")
}

// apply validates the settings into c: the certificate and key go together
// and must load now, not at the first handshake.
func (s *serveSettings) apply(c *config, check func(error)) {
	switch t := stream.Transport(s.transport); t {
	case stream.Auto, stream.Standard:
		c.StreamTransport = t
	default:
		check(fmt.Errorf("CHAT_STREAM_TRANSPORT must be auto or standard, not %q", s.transport))
	}
	switch {
	case s.cert == "" && s.key == "":
		return
	case s.cert == "" || s.key == "":
		check(errors.New("CHAT_TLS_CERT and CHAT_TLS_KEY go together"))
		return
	}
	cert, err := loadCertificate(s.cert, s.key)
	if err != nil {
		check(fmt.Errorf("CHAT_TLS_CERT and CHAT_TLS_KEY: %w", err))
		return
	}
	c.Certificate = cert
	c.TLS = &tls.Config{GetCertificate: cert.get, MinVersion: tls.VersionTLS12}
}

// certCheck is how often a handshake looks at the certificate's files: a
// renewal is served within a minute, and a stat per minute costs nothing.
const certCheck = time.Minute

// certificate serves the pair from CHAT_TLS_CERT and CHAT_TLS_KEY, and loads
// it again when either file changes: a renewed certificate (certbot,
// cert-manager) is served without a restart. A pair that does not load (a
// renewal half written) keeps the one served, and is tried again at the
// next check; failed says why, for the log.
type certificate struct {
	certFile, keyFile string
	failed            func(error)
	mu                sync.Mutex
	pair              *tls.Certificate
	stamp             time.Time // the files' newest modification time when pair was loaded
	checked           time.Time
}

func loadCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile, failed: func(error) {}}
	stamp := c.newest()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c.pair, c.stamp, c.checked = &pair, stamp, time.Now()
	return c, nil
}

// get is tls.Config.GetCertificate.
func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) < certCheck {
		return c.pair, nil
	}
	c.checked = time.Now()
	if stamp := c.newest(); stamp.After(c.stamp) {
		pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			c.failed(fmt.Errorf("CHAT_TLS_CERT and CHAT_TLS_KEY changed but do not load; serving the previous certificate: %w", err))
			return c.pair, nil
		}
		c.pair, c.stamp = &pair, stamp
	}
	return c.pair, nil
}

// newest is the later modification time of the two files.
func (c *certificate) newest() time.Time {
	var t time.Time
	for _, f := range []string{c.certFile, c.keyFile} {
		if fi, err := os.Stat(f); err == nil && fi.ModTime().After(t) {
			t = fi.ModTime()
		}
	}
	return t
}
