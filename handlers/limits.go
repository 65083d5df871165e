package handlers

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/models"
)

// Limits bound what one client may hold open or try. A zero field is no
// limit: main fills them from the configuration's defaults, tests set the ones
// they are about.
type Limits struct {
	// StreamsPerUser bounds the open streams of one user id, on this node.
	StreamsPerUser int
	// StreamsPerIP bounds the open streams from one client address (an IPv6
	// client counts by its /64, which one subscriber usually holds whole).
	StreamsPerIP int
	// StreamsTotal bounds the node's open streams: each costs a socket, two
	// goroutines and a queue, and past some number the node had better refuse
	// than slow everyone down.
	StreamsTotal int
	// AuthFailures is how many refused tokens that cost a call to an identity
	// provider (an Appwrite call, a JWKS fetch for an unknown kid) one client
	// address may send per period. Past it, tokens from that address that
	// would need such a call are refused (429) without one, so a flood of
	// forged tokens cannot make the server call out once per token; tokens
	// checked without a call (the server's own, a known OIDC key, an Appwrite
	// answer in the cache) are checked as ever, so one broken client behind a
	// NAT locks out nobody else.
	AuthFailures models.Rate
	// TrustedProxies are the addresses or CIDRs whose X-Forwarded-For and
	// X-Real-IP headers name the client. None by default: the client is the
	// TCP peer, and a header a client sets for itself changes nothing.
	TrustedProxies []string
}

// streamLimitRetry is the Retry-After of a refused stream: the streams that
// hold the slot end when their user leaves, which a client cannot know, and a
// reconnect storm every second would be worse than a ten-second pause.
const streamLimitRetry = 10 * time.Second

// clientKey is the address a limit counts by: the IP gin found (see
// TrustedProxies), an IPv6 one cut to its /64.
func clientKey(c *gin.Context) string {
	a, err := netip.ParseAddr(c.ClientIP())
	if err != nil {
		return c.ClientIP()
	}
	if a = a.Unmap(); a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// streamGate counts open streams by user, by client address and in total.
type streamGate struct {
	limits Limits
	mu     sync.Mutex
	total  int
	byUser map[string]int
	byIP   map[string]int
}

func newStreamGate(l Limits) *streamGate {
	return &streamGate{limits: l, byUser: map[string]int{}, byIP: map[string]int{}}
}

// enter takes a stream slot for user from ip, or says which limit is reached.
// leave gives the slot back; call it exactly once.
func (g *streamGate) enter(user, ip string) (leave func(), err error) {
	if g == nil {
		return func() {}, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	refuse := func(what string, n int) (func(), error) {
		return nil, models.Restricted(models.WithDetail(models.ErrRateLimited, "too many open streams %s (the limit is %d); close one or retry later", what, n),
			nil, streamLimitRetry)
	}
	l := g.limits
	switch {
	case l.StreamsTotal > 0 && g.total >= l.StreamsTotal:
		return refuse("on this server", l.StreamsTotal)
	case l.StreamsPerUser > 0 && g.byUser[user] >= l.StreamsPerUser:
		return refuse("for this user", l.StreamsPerUser)
	case l.StreamsPerIP > 0 && g.byIP[ip] >= l.StreamsPerIP:
		return refuse("from this address", l.StreamsPerIP)
	}
	g.total++
	g.byUser[user]++
	g.byIP[ip]++
	var once sync.Once
	return func() { once.Do(func() { g.leave(user, ip) }) }, nil
}

func (g *streamGate) leave(user, ip string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if g.byUser[user]--; g.byUser[user] <= 0 {
		delete(g.byUser, user)
	}
	if g.byIP[ip]--; g.byIP[ip] <= 0 {
		delete(g.byIP, ip)
	}
}

// authGuard is a token bucket per client address for refused tokens that
// cost a call to an identity provider: rate.Count of them at once, refilled
// at rate.Count per rate.Per.
type authGuard struct {
	rate      models.Rate
	now       func() time.Time
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newAuthGuard(r models.Rate, now func() time.Time) *authGuard {
	if now == nil {
		now = time.Now
	}
	return &authGuard{rate: r, now: now, buckets: map[string]*bucket{}}
}

func (g *authGuard) off() bool { return g == nil || g.rate.Count <= 0 || g.rate.Per <= 0 }

// refill brings b up to now and returns it; the caller holds mu.
func (g *authGuard) refill(b *bucket, now time.Time) {
	perToken := g.rate.Per / time.Duration(g.rate.Count)
	b.tokens = min(float64(g.rate.Count), b.tokens+float64(now.Sub(b.at))/float64(perToken))
	b.at = now
}

// wait is how long ip must wait before a token of its may cost a call to an
// identity provider again; zero when it may now.
func (g *authGuard) wait(ip string) time.Duration {
	if g.off() {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.buckets[ip]
	if !ok {
		return 0
	}
	now := g.now()
	g.refill(b, now)
	if b.tokens >= 1 {
		return 0
	}
	perToken := g.rate.Per / time.Duration(g.rate.Count)
	return time.Duration((1 - b.tokens) * float64(perToken))
}

// spend records one token from ip that cost a call and was refused.
func (g *authGuard) spend(ip string) {
	if g.off() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.sweep(now)
	b, ok := g.buckets[ip]
	if !ok {
		b = &bucket{tokens: float64(g.rate.Count), at: now}
		g.buckets[ip] = b
	}
	g.refill(b, now)
	b.tokens = max(b.tokens-1, 0)
}

// sweep forgets, at most once a period, the addresses whose bucket is full
// again, so memory follows the addresses failing now, not every one ever
// seen. The caller holds mu.
func (g *authGuard) sweep(now time.Time) {
	if now.Sub(g.lastSweep) < g.rate.Per {
		return
	}
	g.lastSweep = now
	for ip, b := range g.buckets {
		if g.refill(b, now); b.tokens >= float64(g.rate.Count) {
			delete(g.buckets, ip)
		}
	}
}

// trustProxies sets who may name the client address: nobody unless
// configured, since gin trusts every proxy by default.
func trustProxies(r *gin.Engine, proxies []string) error {
	if len(proxies) == 0 {
		r.ForwardedByClientIP = false
		return r.SetTrustedProxies(nil)
	}
	for _, p := range proxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return &net.ParseError{Type: "CIDR address", Text: p}
		}
	}
	r.ForwardedByClientIP = true
	return r.SetTrustedProxies(proxies)
}
