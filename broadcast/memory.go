package broadcast

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

var _ Broadcaster = (*Memory)(nil)

// Defaults of the in-process hub.
const (
	// DefaultQueue is each subscriber's queue, in events: about a second of
	// a very busy room. A subscriber that falls further behind is dropped
	// and resumes by Last-Event-ID, so no one waits for it.
	DefaultQueue = 256
	// DefaultGapWait is how long an event that arrived ahead of a missing one
	// waits before the gap is filled from the event log. Locally, commits
	// reach Publish microseconds apart; through Redis, milliseconds.
	DefaultGapWait = 100 * time.Millisecond
	// fillBatch bounds one read of the event log when filling a gap.
	fillBatch = 500
	// readTimeout bounds one read of the event log, so a hung database
	// delays a catch-up rather than stopping it for good.
	readTimeout = 5 * time.Second
	// maxPending bounds the events held back waiting for a gap; past it the
	// gap is filled at once.
	maxPending = 1024
)

// Memory is the in-process hub. It owns, per room with subscribers on this
// node, the last seq delivered, the events held back behind a gap, and the
// subscriber set; each room has its own lock so rooms never wait on each other.
type Memory struct {
	src     Source
	log     *slog.Logger
	queue   int
	gapWait time.Duration

	mu     sync.Mutex // guards rooms and closed; taken before a room's lock
	rooms  map[string]*room
	closed bool
}

// NewMemory returns a hub that fills gaps from src.
func NewMemory(src Source, log *slog.Logger) *Memory {
	return &Memory{src: src, log: log, queue: DefaultQueue, gapWait: DefaultGapWait, rooms: map[string]*room{}}
}

// SetQueue sets the per-subscriber queue length; call before use.
func (h *Memory) SetQueue(n int) { h.queue = n }

type room struct {
	id string

	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	last    int64 // highest seq delivered; -1 until the head is known
	pending map[int64]*Event
	timer   *time.Timer
	// armed is true while the timer runs: the wait counts from the first
	// event held back, so later ones must not push it further away.
	armed   bool
	filling bool
}

// Subscription is one stream's view of a room. Events arrive on Events in seq
// order; Done is closed when the hub drops the subscription, with Err saying
// why. The hub never closes Events, so a send can never race a close.
type Subscription struct {
	hub    *Memory
	room   *room
	events chan *Event
	done   chan struct{}
	once   sync.Once
	err    atomic.Value
}

// Events delivers the room's events in seq order.
func (s *Subscription) Events() <-chan *Event { return s.events }

// Done is closed when the subscription is dropped.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why Done was closed: ErrSlow or ErrClosed.
func (s *Subscription) Err() error {
	if e, ok := s.err.Load().(error); ok {
		return e
	}
	return nil
}

func (s *Subscription) drop(err error) {
	s.once.Do(func() {
		s.err.Store(err)
		close(s.done)
	})
}

// Close ends the subscription.
func (s *Subscription) Close() {
	h, r := s.hub, s.room
	h.mu.Lock()
	r.mu.Lock()
	delete(r.subs, s)
	if len(r.subs) == 0 && h.rooms[r.id] == r {
		delete(h.rooms, r.id)
		if r.timer != nil {
			r.timer.Stop()
		}
	}
	r.mu.Unlock()
	h.mu.Unlock()
	s.drop(ErrClosed)
}

// Subscribe implements Broadcaster.
func (h *Memory) Subscribe(ctx context.Context, roomID string) (*Subscription, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	r := h.rooms[roomID]
	if r == nil {
		r = &room{id: roomID, subs: map[*Subscription]struct{}{}, last: -1, pending: map[int64]*Event{}}
		h.rooms[roomID] = r
	}
	s := &Subscription{hub: h, room: r, events: make(chan *Event, h.queue), done: make(chan struct{})}
	r.mu.Lock()
	r.subs[s] = struct{}{}
	known := r.last >= 0
	r.mu.Unlock()
	h.mu.Unlock()
	if known {
		return s, nil
	}
	// First subscriber here: everything up to the head is in the log, and
	// every event after it will be published after its commit.
	head, err := h.src.Head(ctx, roomID)
	if err != nil {
		s.Close()
		return nil, err
	}
	r.mu.Lock()
	if r.last < 0 {
		r.last = head
		h.advance(r)
	}
	r.mu.Unlock()
	return s, nil
}

// Publish implements Broadcaster.
func (h *Memory) Publish(_ context.Context, ev *Event) error {
	h.mu.Lock()
	r := h.rooms[ev.Room]
	h.mu.Unlock()
	if r == nil {
		return nil // no one on this node listens to the room
	}
	r.mu.Lock()
	if ev.Seq > r.last {
		r.pending[ev.Seq] = ev
		if r.last >= 0 {
			h.advance(r)
		}
	}
	r.mu.Unlock()
	return nil
}

// advance delivers held-back events while they follow on from r.last, and
// arms the gap timer if some remain. r.mu is held.
func (h *Memory) advance(r *room) {
	for seq := range r.pending {
		if seq <= r.last {
			delete(r.pending, seq)
		}
	}
	for {
		ev, ok := r.pending[r.last+1]
		if !ok {
			break
		}
		delete(r.pending, ev.Seq)
		h.deliver(r, ev)
		r.last = ev.Seq
	}
	switch {
	case len(r.pending) == 0:
		if r.timer != nil {
			r.timer.Stop()
		}
		r.armed = false
	case len(r.pending) > maxPending:
		go h.fill(r)
	case r.armed:
	case r.timer == nil:
		r.armed = true
		r.timer = time.AfterFunc(h.gapWait, func() { h.fill(r) })
	default:
		r.armed = true
		r.timer.Reset(h.gapWait)
	}
}

// deliver queues ev for every subscriber without blocking; a subscriber whose
// queue is full is dropped. r.mu is held.
func (h *Memory) deliver(r *room, ev *Event) {
	for s := range r.subs {
		select {
		case s.events <- ev:
		default:
			delete(r.subs, s)
			s.drop(ErrSlow)
		}
	}
}

// fill reads the events after r.last from the log and delivers them, closing
// a gap that publishing left.
func (h *Memory) fill(r *room) {
	r.mu.Lock()
	r.armed = false // the timer fired, or a catch-up fills now
	if r.filling || r.last < 0 {
		r.mu.Unlock()
		return
	}
	r.filling = true
	from := r.last
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	evs, err := h.src.After(ctx, r.id, from, fillBatch)
	cancel()

	r.mu.Lock()
	defer r.mu.Unlock()
	r.filling = false
	if err != nil {
		h.log.Warn("filling a gap from the event log failed", "room", r.id, "after", from, "err", err)
	}
	if err == nil && len(evs) > 0 && evs[0].Seq-1 > r.last {
		// Seqs are dense and commit in seq order, so a read that holds a
		// later event but not r.last+1 means retention or a room close
		// deleted it: go on from the oldest event there is. Events held back
		// in pending prove no such thing: one may have come from another
		// node after this read's snapshot, with the missing one still on
		// its way (a periodic catch-up races Redis like that).
		// Subscribers would miss those events without knowing, so they are
		// dropped: each resumes by Last-Event-ID and gets history.reset.
		r.last = evs[0].Seq - 1
		for s := range r.subs {
			delete(r.subs, s)
			s.drop(ErrSlow)
		}
	}
	for _, ev := range evs {
		if ev.Seq > r.last {
			r.pending[ev.Seq] = ev
		}
	}
	h.advance(r)
}

// CatchUp brings every room up to its head in the log now: after a lost
// connection to the other nodes, and periodically to catch an event whose
// publish was lost. It reads every room's head in one batch and fills only the
// rooms behind theirs (a room at its head would read nothing), so idle rooms
// cost the log one read in all, not one each. A closed room is skipped: its
// events went with it.
func (h *Memory) CatchUp() {
	h.mu.Lock()
	rooms := make([]*room, 0, len(h.rooms))
	ids := make([]string, 0, len(h.rooms))
	for id, r := range h.rooms {
		rooms = append(rooms, r)
		ids = append(ids, id)
	}
	h.mu.Unlock()
	if len(rooms) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	heads, err := h.src.Heads(ctx, ids)
	cancel()
	if err != nil {
		h.log.Warn("reading the rooms' heads from the event log failed", "rooms", len(ids), "err", err)
		return
	}
	for _, r := range rooms {
		head, ok := heads[r.id]
		r.mu.Lock()
		behind := ok && r.last >= 0 && head > r.last
		r.mu.Unlock()
		if behind {
			h.fill(r)
		}
	}
}

// Close implements Broadcaster: every subscription ends with ErrClosed.
func (h *Memory) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for id, r := range h.rooms {
		r.mu.Lock()
		for s := range r.subs {
			s.drop(ErrClosed)
		}
		if r.timer != nil {
			r.timer.Stop()
		}
		r.mu.Unlock()
		delete(h.rooms, id)
	}
	return nil
}
