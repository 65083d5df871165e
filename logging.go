package main

import (
	"io"
	"log/slog"
	"net"
	"time"
)

// newLogger writes JSON lines for people as much as for machines: durations
// read "1.5ms" and "10s", not nanosecond counts.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: readableDuration}))
}

// readableDuration renders a time.Duration attribute as its String.
func readableDuration(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	if d, ok := a.Value.Any().(time.Duration); ok { // a Duration passed as slog.Any
		return slog.String(a.Key, d.String())
	}
	return a
}

// baseURL is how a person on this machine reaches a listener: an unspecified
// address (":8080") becomes localhost.
func baseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
