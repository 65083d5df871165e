package stream

import (
	"context"
	"sync"
	"time"

	"github.com/resonate/resonate-chat/models"
)

// Limits bound the streams one node holds open; a zero field is no limit.
type Limits struct {
	// PerUser bounds the open streams of one user id.
	PerUser int
	// PerClient bounds the open streams from one client address, as the
	// caller keys it (an IPv6 client by its /64).
	PerClient int
	// Total bounds the node's open streams: each costs a socket, a goroutine
	// and a queue, and past some number the node had better refuse than slow
	// everyone down.
	Total int
}

// limitRetry is the Retry-After of a refused stream: the streams that hold
// the slot end when their user leaves, which a client cannot know, and a
// reconnect storm every second would be worse than a ten-second pause.
const limitRetry = 10 * time.Second

// stoppingRetry is the Retry-After of a stream refused because the server is
// stopping: a load balancer has another node for it at once.
const stoppingRetry = time.Second

// gate is the table of open streams, whatever their transport: it holds
// every stream's slot from before its authorisation to after its close, so it
// both enforces Limits and is what a shutdown waits on. Once stopped it
// refuses new streams.
type gate struct {
	limits  Limits
	mu      sync.Mutex
	total   int
	byUser  map[string]int
	byIP    map[string]int
	stopped bool
	// idle is closed when the table is empty after a stop.
	idle chan struct{}
}

func newGate(l Limits) *gate {
	return &gate{limits: l, byUser: map[string]int{}, byIP: map[string]int{}, idle: make(chan struct{})}
}

// enter takes a stream slot for user from ip, or says which limit is reached.
// leave gives the slot back; call it exactly once.
func (g *gate) enter(user, ip string) (leave func(), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	refuse := func(what string, n int) (func(), error) {
		return nil, models.Restricted(models.WithDetail(models.ErrRateLimited, "too many open streams %s (the limit is %d); close one or retry later", what, n),
			nil, limitRetry)
	}
	l := g.limits
	switch {
	case g.stopped:
		return nil, models.Restricted(models.WithDetail(models.ErrUnavailable, "the server is stopping"), nil, stoppingRetry)
	case l.Total > 0 && g.total >= l.Total:
		return refuse("on this server", l.Total)
	case l.PerUser > 0 && g.byUser[user] >= l.PerUser:
		return refuse("for this user", l.PerUser)
	case l.PerClient > 0 && g.byIP[ip] >= l.PerClient:
		return refuse("from this address", l.PerClient)
	}
	g.total++
	g.byUser[user]++
	g.byIP[ip]++
	var once sync.Once
	return func() { once.Do(func() { g.leave(user, ip) }) }, nil
}

func (g *gate) leave(user, ip string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if g.byUser[user]--; g.byUser[user] <= 0 {
		delete(g.byUser, user)
	}
	if g.byIP[ip]--; g.byIP[ip] <= 0 {
		delete(g.byIP, ip)
	}
	if g.stopped && g.total == 0 {
		close(g.idle)
	}
}

// stop refuses new streams from now on.
func (g *gate) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return
	}
	g.stopped = true
	if g.total == 0 {
		close(g.idle)
	}
}

// wait waits, after stop, until every stream has left, or ctx ends.
func (g *gate) wait(ctx context.Context) error {
	select {
	case <-g.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
