// Package stream serves a room's event stream (Server-Sent Events), from the
// request that asks for it to the last byte. It opens a stream (takes a slot
// under the Limits, authorises the caller, subscribes, replays from the resume
// point), serves it (heartbeats, the credential's expiry, paced flushes in a
// busy room, the cut-off of a subscriber too slow to keep up, the events that
// end it) and closes it (subscription closed, slot released, counted and
// logged).
//
// It alone knows how a frame reaches a client, through one of two transports
// chosen per request: the connection taken over from net/http where that is
// safe (Linux, HTTP/1.1, plain TCP), where an idle stream costs a parked
// goroutine and a small struct; and net/http's own response everywhere else
// (HTTP/2, TLS, other systems), with a deadline and a flush per write. Its
// table of open streams is what a shutdown ends and waits for, on both.
package stream

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/resonate/resonate-chat/broadcast"
	"github.com/resonate/resonate-chat/models"
)

// Options shape every stream.
type Options struct {
	// Heartbeat is the interval of ": ping" comments on idle streams.
	Heartbeat time.Duration
	// Retry is the reconnection delay the stream opens with.
	Retry time.Duration
	// WriteTimeout bounds each write to a stream: a reader that stops
	// reading is cut off after it.
	WriteTimeout time.Duration
	// FlushInterval paces each stream's writes in a busy room, one with at
	// least one event per interval over the last second: there, the first
	// event after a quiet spell is written at once, the ones that follow
	// within the interval together at its end. In other rooms every event
	// is written at once. Negative turns pacing off.
	FlushInterval time.Duration
	// Transport is Auto (the default) or Standard, which serves every
	// stream through net/http's response even where the takeover is safe.
	Transport Transport
}

// Transport chooses how streams reach their clients.
type Transport string

const (
	// Auto takes the connection over where that is safe (Linux, HTTP/1.1,
	// plain TCP) and uses net/http's response elsewhere.
	Auto Transport = "auto"
	// Standard always uses net/http's response: the portable path, which
	// the fast one must match.
	Standard Transport = "standard"
)

// Defaults of Options.
const (
	DefaultHeartbeat = 15 * time.Second
	// DefaultRetry is quick enough that a dropped stream resumes before a
	// user notices, slow enough not to storm a restarting server.
	DefaultRetry = 2 * time.Second
	// DefaultWriteTimeout: a healthy client drains a frame in milliseconds;
	// ten seconds covers a mobile network's stall.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultFlushInterval adds at most 15 ms to an event in a room busier
	// than ~67 events a second, and in return writes a batch of them with
	// one system call instead of one each: writes are most of a busy
	// room's cost.
	DefaultFlushInterval = 15 * time.Millisecond
)

// shutdownRetry is the reconnection delay streams get when the server stops,
// so clients move to another node at once.
const shutdownRetry = 250 * time.Millisecond

// closeGrace is how long a stream whose room closed while it was opening waits
// for the room.closed event: it is published right after its commit, which
// the replay has already seen, so a second is ample.
const closeGrace = time.Second

// Authorizer says whether an actor may stream a room, and the room's head
// when it may.
type Authorizer interface {
	OpenStream(ctx context.Context, a models.Actor, room string) (int64, error)
}

// EventLog is the stream's view of the event log, for replays.
type EventLog interface {
	EventsAfter(ctx context.Context, room string, after int64, limit int) (*models.Replay, error)
}

// Metrics are the stream's share of the server's metrics.
type Metrics struct {
	Open      prometheus.Gauge
	Delivered prometheus.Counter
	SlowDrops prometheus.Counter
}

// Deps are what the streams are served from.
type Deps struct {
	Chat    Authorizer
	Log     EventLog
	Hub     broadcast.Broadcaster
	Metrics Metrics
	Limits  Limits
	Options Options
}

// Streams serves every stream of one server.
type Streams struct {
	d       Deps
	gate    *gate
	hangups *hangups
	// quit is closed once, by Stop, to end every stream.
	quit     chan struct{}
	quitOnce sync.Once
}

// New returns the server's streams, with defaults for unset options.
func New(d Deps) *Streams {
	o := &d.Options
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.Transport == "" {
		o.Transport = Auto
	}
	return &Streams{d: d, gate: newGate(d.Limits), hangups: newHangups(), quit: make(chan struct{})}
}

// Stop ends every open stream, with a short retry so that clients move to
// another node, and refuses new ones (503). Call it when
// http.Server.Shutdown starts: streams never end by themselves.
func (s *Streams) Stop() {
	s.gate.stop()
	s.quitOnce.Do(func() { close(s.quit) })
}

// Wait waits, after Stop, until every stream has closed, or ctx ends. It
// counts the streams on taken-over connections too, which
// http.Server.Shutdown no longer knows.
func (s *Streams) Wait(ctx context.Context) error { return s.gate.wait(ctx) }

// Request is one stream asked for.
type Request struct {
	Room  string
	Actor models.Actor
	// Expires is when the credential that opened the stream expires; zero
	// for never.
	Expires time.Time
	// Resume is the last seq the client has; nil for none.
	Resume *int64
	// Client is the client address the limits count by.
	Client string
	Log    *slog.Logger
}

// Serve opens the stream req asks for and serves it until it ends. An error
// means nothing was written: answer it as a problem. On a taken-over
// connection Serve returns once the stream is open, and it goes on in a
// goroutine of its own, which starts with a small stack.
func (s *Streams) Serve(w http.ResponseWriter, r *http.Request, req Request) error {
	ctx := r.Context()
	leave, err := s.gate.enter(req.Actor.UserID, req.Client)
	if err != nil {
		return err
	}
	authHead, err := s.d.Chat.OpenStream(ctx, req.Actor, req.Room)
	if err != nil {
		leave()
		return err
	}
	sub, err := s.d.Hub.Subscribe(ctx, req.Room)
	if err != nil {
		leave()
		return err
	}
	out, err := s.connect(w, r)
	if err != nil {
		sub.Close()
		leave()
		if errors.Is(err, errGoneAtOpen) {
			req.Log.Info("stream not opened", "room", req.Room, "err", err)
			return nil // nothing to answer on a connection already taken over
		}
		return err
	}
	st := &sse{out: out, sub: sub, leave: leave, room: req.Room, user: req.Actor.UserID,
		admin: req.Actor.Admin, authHead: authHead, m: &s.d.Metrics, log: req.Log, interval: s.d.Options.FlushInterval, started: time.Now()}
	s.d.Metrics.Open.Inc()
	l, why := s.open(ctx, st, req)
	if why != "" {
		st.close(why)
		return nil
	}
	if _, taken := out.(*takenOver); taken {
		go st.serve(l)
		return nil
	}
	st.serve(l)
	return nil
}

// open writes the stream's first lines and its replay; a reason to end it
// already, or else what it waits on from now on.
func (s *Streams) open(ctx context.Context, st *sse, req Request) (*loop, streamEnd) {
	if st.write(broadcast.Retry(s.d.Options.Retry.Milliseconds())) != nil {
		return nil, endWrite
	}
	l := &loop{sub: st.sub, quit: s.quit, hangup: st.out.gone(), heartbeat: s.d.Options.Heartbeat}
	l.deadlines.expiry = req.Expires
	ended, err := st.replay(ctx, s.d.Log, req.Resume)
	switch {
	case errors.Is(err, models.ErrNotFound):
		// The room closed while the stream was opening. Its room.closed is
		// on the subscription unless it was published before the
		// subscription began: pass it on if it comes, and end either way.
		l.deadlines.closing = time.Now().Add(closeGrace)
	case err != nil:
		st.log.Info("stream replay ended", "room", st.room, "err", err)
		return nil, endWrite
	case ended:
		return nil, endRoom
	}
	return l, ""
}

// serve runs the live stream, then closes it.
func (st *sse) serve(l *loop) {
	why := endWrite
	defer func() {
		if r := recover(); r != nil {
			st.log.Error("stream panicked", "room", st.room, "panic", r)
		}
		st.close(why)
	}()
	why = st.run(l)
}

// close ends the stream: the subscription, the transport, the slot, in that
// order, and counts and logs it.
func (st *sse) close(why streamEnd) {
	st.sub.Close()
	// A subscriber that fell behind ends either by the hub dropping it (its
	// queue full) or on its write deadline (stuck writing), whichever comes
	// first; both are counted, on every end, and before the client can see
	// its connection close.
	switch {
	case errors.Is(st.sub.Err(), broadcast.ErrSlow):
		st.m.SlowDrops.Inc()
		why = endDropped
	case st.stuck:
		st.m.SlowDrops.Inc()
	}
	st.out.close()
	st.m.Open.Dec()
	st.log.Info("stream ended", "room", st.room, "reason", string(why), "duration", time.Since(st.started), "last_seq", st.last)
	st.leave()
}
