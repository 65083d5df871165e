package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"

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
	pair, err := tls.LoadX509KeyPair(s.cert, s.key)
	if err != nil {
		check(fmt.Errorf("CHAT_TLS_CERT and CHAT_TLS_KEY: %w", err))
		return
	}
	c.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}
