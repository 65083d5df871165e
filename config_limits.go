package main

import (
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Defaults of the abuse limits, with the reason for each.
const (
	// defaultStreamsPerUser: a user has a few tabs and devices open, not
	// dozens; a script that opens more is not a chat client.
	defaultStreamsPerUser = 10
	// defaultStreamsPerIP leaves room for an office or a mobile carrier's
	// NAT, and stops one host from holding a node's sockets.
	defaultStreamsPerIP = 100
	// defaultStreamsTotal: a node holds about this many idle streams in a
	// few hundred MB; past it, refusing beats slowing every stream down.
	defaultStreamsTotal = 20000
	// defaultAuthFailures lets a client with a stale Appwrite JWT retry for a
	// while, and holds one address flooding forged tokens to a call to the
	// identity provider a second.
	defaultAuthFailures = "60/1m"
)

// limitSettings are the raw values of the abuse-limit and exposure settings,
// read from flags and CHAT_* variables like the rest of the configuration.
type limitSettings struct {
	perUser, perIP, total, authFailures, proxies, metrics, swagger string
}

// register declares the settings on fs.
func (s *limitSettings) register(fs *flag.FlagSet, env func(name, def string) string, c *config) {
	fs.StringVar(&s.perUser, "max-streams-per-user", env("CHAT_MAX_STREAMS_PER_USER", strconv.Itoa(defaultStreamsPerUser)), "open streams per user; 0 for no limit (CHAT_MAX_STREAMS_PER_USER)")
	fs.StringVar(&s.perIP, "max-streams-per-ip", env("CHAT_MAX_STREAMS_PER_IP", strconv.Itoa(defaultStreamsPerIP)), "open streams per client address (IPv6: per /64); 0 for no limit (CHAT_MAX_STREAMS_PER_IP)")
	fs.StringVar(&s.total, "max-streams", env("CHAT_MAX_STREAMS", strconv.Itoa(defaultStreamsTotal)), "open streams on this node; 0 for no limit (CHAT_MAX_STREAMS)")
	fs.StringVar(&s.authFailures, "auth-failure-rate", env("CHAT_AUTH_FAILURE_RATE", defaultAuthFailures), "refused tokens that cost a call to an identity provider, per client address, N/duration or off (CHAT_AUTH_FAILURE_RATE)")
	fs.StringVar(&s.proxies, "trusted-proxies", env("CHAT_TRUSTED_PROXIES", ""), "comma-separated IPs or CIDRs of proxies whose X-Forwarded-For names the client; none by default (CHAT_TRUSTED_PROXIES)")
	fs.StringVar(&c.InternalAddr, "internal-addr", env("CHAT_INTERNAL_ADDR", ""), "listen address for /metrics, /swagger/ and /debug/pprof/, which then leave the public one (CHAT_INTERNAL_ADDR)")
	fs.StringVar(&s.metrics, "metrics", env("CHAT_METRICS", "on"), "serve /metrics: on or off (CHAT_METRICS)")
	fs.StringVar(&s.swagger, "swagger", env("CHAT_SWAGGER", "on"), "serve Swagger UI at /swagger/: on or off (CHAT_SWAGGER)")
}

// apply validates the settings into c.
func (s *limitSettings) apply(c *config, check func(error)) {
	l := &c.Limits
	l.StreamsPerUser, _ = intSetting("CHAT_MAX_STREAMS_PER_USER", s.perUser, 0, 1_000_000, check)
	l.StreamsPerIP, _ = intSetting("CHAT_MAX_STREAMS_PER_IP", s.perIP, 0, 1_000_000, check)
	l.StreamsTotal, _ = intSetting("CHAT_MAX_STREAMS", s.total, 0, 10_000_000, check)
	rate, err := parseRate("CHAT_AUTH_FAILURE_RATE", s.authFailures)
	if err != nil {
		err = fmt.Errorf("CHAT_AUTH_FAILURE_RATE must be N/duration (like 60/1m) or off, not %q", s.authFailures)
	}
	check(err)
	l.AuthFailures = rate
	for _, p := range strings.Split(s.proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			check(fmt.Errorf("CHAT_TRUSTED_PROXIES must list IPs or CIDRs, not %q", p))
		}
		l.TrustedProxies = append(l.TrustedProxies, p)
	}
	c.Exposure.NoMetrics = onOff("CHAT_METRICS", s.metrics, check)
	c.Exposure.NoSwagger = onOff("CHAT_SWAGGER", s.swagger, check)
	c.Exposure.Internal = c.InternalAddr != ""
	if c.InternalAddr != "" && c.InternalAddr == c.Addr {
		check(fmt.Errorf("CHAT_INTERNAL_ADDR must differ from CHAT_ADDR"))
	}
}

// onOff reads an on/off setting and reports whether it is off.
func onOff(name, v string, check func(error)) bool {
	switch v {
	case "on":
		return false
	case "off":
		return true
	}
	check(fmt.Errorf("%s must be on or off, not %q", name, v))
	return false
}
