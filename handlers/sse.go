package handlers

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/broadcast"
	"github.com/resonate/resonate-chat/models"
)

// sse is one open stream, on a connection taken over from net/http once the
// request is authorised. An idle stream is one goroutine parked in run and
// this struct: no request, no net/http buffers, no buffer of its own. Frames
// are gathered in buf (from a pool) and go out together, one write with one
// deadline per flush; last is the newest seq sent, so that nothing goes out
// twice.
type sse struct {
	conn    net.Conn
	timeout time.Duration
	room    string
	user    string
	admin   bool // a platform admin's stream, which only the room closing ends
	// authHead is the room's head when the stream was authorised: a later
	// event that removes the user ends the stream.
	authHead int64
	last     int64
	m        *Metrics
	log      *slog.Logger
	buf      *[]byte
	// lastFlush, interval and the rate window pace flushes in a busy room
	// (see FlushInterval).
	lastFlush time.Time
	interval  time.Duration
	winStart  time.Time
	winCount  int
	lastRate  int
}

// flushAt bounds a write, in bytes: a replay goes out in pieces of at most
// this size.
const flushAt = 64 << 10

// bufs holds the streams' write buffers between flushes, so that an idle
// stream holds none.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// flush writes what is gathered, under one write deadline.
func (s *sse) flush() error {
	if s.buf == nil {
		return nil
	}
	b := *s.buf
	var err error
	if len(b) > 0 {
		if err = s.conn.SetWriteDeadline(time.Now().Add(s.timeout)); err == nil {
			_, err = s.conn.Write(b)
		}
		s.lastFlush = time.Now()
	}
	if cap(b) <= flushAt {
		*s.buf = b[:0]
		bufs.Put(s.buf)
	}
	s.buf = nil
	return err
}

func (s *sse) append(b []byte) {
	if s.buf == nil {
		s.buf = bufs.Get().(*[]byte)
	}
	*s.buf = append(*s.buf, b...)
}

// write sends b at once, after anything gathered before it.
func (s *sse) write(b []byte) error {
	s.append(b)
	return s.flush()
}

// local writes an event that concerns only this stream: no id, seq 0.
func (s *sse) local(typ string, payload any) error {
	data, err := api.EncodeEvent(&models.Event{RoomID: s.room, Type: typ, Time: time.Now(), Payload: payload})
	if err != nil {
		return err
	}
	return s.write(broadcast.Frame(0, typ, data))
}

// send gathers one room event unless it was already sent, and reports
// whether it ends this stream.
func (s *sse) send(seq int64, typ, target string, frame []byte) (ended bool, err error) {
	if seq <= s.last {
		return false, nil
	}
	s.append(frame)
	if len(*s.buf) >= flushAt {
		if err := s.flush(); err != nil {
			return false, err
		}
	}
	s.last = seq
	return seq > s.authHead && models.EndsStream(typ, target, s.user, s.admin), nil
}

// replay writes the logged events after the resume point (after the head the
// stream was authorised at, when there is none). Seqs are dense, so when the
// log no longer holds the next one (retention deleted it, or the resume point
// is not from this room's timeline) the client gets history.reset, then every
// retained event.
func (s *sse) replay(ctx context.Context, log eventLog, resume *int64) (ended bool, err error) {
	s.last = s.authHead
	if resume != nil {
		s.last = *resume
		if *resume > s.authHead {
			s.last = -1
		}
	}
	for {
		r, err := log.EventsAfter(ctx, s.room, max(s.last, 0), replayBatch)
		if err != nil {
			return false, err
		}
		if s.last < r.OldestSeq-1 || (len(r.Events) > 0 && r.Events[0].Seq > s.last+1) {
			if err := s.local(models.EventHistoryReset, models.HistoryReset{OldestSeq: r.OldestSeq}); err != nil {
				return false, err
			}
			s.last = r.OldestSeq - 1
		}
		for i := range r.Events {
			ev := frameRow(&r.Events[i])
			if ev.Seq > s.last {
				s.m.Delivered.Inc()
			}
			ended, err := s.send(ev.Seq, ev.Type, ev.Target, ev.Frame)
			if ended || err != nil {
				_ = s.flush()
				return ended, err
			}
		}
		if len(r.Events) < replayBatch {
			return false, s.flush()
		}
	}
}

// live gathers ev (if any) and every event already queued behind it, and
// says how many it gathered; the caller flushes them, at once or when
// flushDue says.
func (s *sse) live(ev *broadcast.Event, queue <-chan *broadcast.Event) (n int, ended bool, err error) {
	defer func() { s.m.Delivered.Add(float64(n)); s.count(n) }()
	for {
		if ev != nil {
			if ev.Seq > s.last {
				n++
			}
			if ended, err = s.send(ev.Seq, ev.Type, ev.Target, ev.Frame); ended || err != nil {
				return n, ended, err
			}
		}
		select {
		case ev = <-queue:
		default:
			return n, false, nil
		}
	}
}

// count keeps the room's event rate over the last whole second.
func (s *sse) count(n int) {
	now := time.Now()
	switch since := now.Sub(s.winStart); {
	case since >= 2*time.Second:
		s.lastRate, s.winStart, s.winCount = 0, now, 0
	case since >= time.Second:
		s.lastRate, s.winStart, s.winCount = s.winCount, now, 0
	}
	s.winCount += n
}

// flushDue says how long gathered frames may still wait: zero means flush
// now. Only in a busy room, one with at least an event per interval over the
// last second, do frames that follow a flush within the interval wait for its
// end and go out together; elsewhere every event goes out at once.
func (s *sse) flushDue() time.Duration {
	if s.interval <= 0 || time.Duration(max(s.lastRate, s.winCount))*s.interval < time.Second {
		return 0
	}
	return max(time.Until(s.lastFlush.Add(s.interval)), 0)
}

// streamEnd is why run returned.
type streamEnd string

const (
	endHangup   streamEnd = "client gone"
	endShutdown streamEnd = "server stopping"
	endDropped  streamEnd = "subscription ended"
	endRoom     streamEnd = "stream ended by an event"
	endExpired  streamEnd = "credential expired"
	endWrite    streamEnd = "write failed"
)

// timers are the stream's deadlines, served by one runtime timer: the next
// heartbeat, the credential's expiry, the end of a closing room's grace, and
// a paced flush.
type timers struct {
	heartbeat, expiry, closing, flush time.Time
}

func (t *timers) next() time.Time {
	n := t.heartbeat
	for _, d := range []time.Time{t.expiry, t.closing, t.flush} {
		if !d.IsZero() && d.Before(n) {
			n = d
		}
	}
	return n
}

// loop is what a live stream waits on.
type loop struct {
	sub       *broadcast.Subscription
	quit      <-chan struct{}
	hangup    <-chan struct{}
	heartbeat time.Duration
	deadlines timers
}

// run serves live events until the stream ends, and says why.
func (s *sse) run(l *loop) streamEnd {
	l.deadlines.heartbeat = time.Now().Add(l.heartbeat)
	timer := time.NewTimer(time.Until(l.deadlines.next()))
	defer timer.Stop()
	events := l.sub.Events()
	for {
		// While a flush is due the stream does not wake for events, which
		// queue up and go out together when it fires.
		wake := events
		if !l.deadlines.flush.IsZero() {
			wake = nil
		}
		select {
		case <-l.hangup:
			return endHangup
		case <-l.quit:
			_ = s.write(broadcast.Retry(shutdownRetry.Milliseconds()))
			return endShutdown
		case <-l.sub.Done():
			return endDropped
		case ev := <-wake:
			_, ended, err := s.live(ev, events)
			switch {
			case err != nil:
				return endWrite
			case ended:
				_ = s.flush()
				return endRoom
			}
			if wait := s.flushDue(); wait > 0 {
				l.deadlines.flush = time.Now().Add(wait)
			} else if s.flush() != nil {
				return endWrite
			}
		case now := <-timer.C:
			if end := s.due(l, now, events); end != "" {
				return end
			}
		}
		timer.Reset(time.Until(l.deadlines.next()))
	}
}

// due does what the timer found due at now.
func (s *sse) due(l *loop, now time.Time, events <-chan *broadcast.Event) streamEnd {
	d := &l.deadlines
	switch {
	case !d.expiry.IsZero() && !now.Before(d.expiry):
		_ = s.local(models.EventAuthExpired, nil)
		return endExpired
	case !d.closing.IsZero() && !now.Before(d.closing):
		return endRoom
	}
	if !d.flush.IsZero() && !now.Before(d.flush) {
		n, ended, err := s.live(nil, events)
		if err == nil {
			err = s.flush()
		}
		switch {
		case err != nil:
			return endWrite
		case ended:
			return endRoom
		}
		// While the room stays busy, keep sleeping through events and write
		// them once per interval; an empty interval ends that.
		d.flush = time.Time{}
		if n > 0 {
			d.flush = now.Add(s.interval)
		}
	}
	if !now.Before(d.heartbeat) {
		if s.write(broadcast.Comment("ping")) != nil {
			return endWrite
		}
		d.heartbeat = now.Add(l.heartbeat)
	}
	return ""
}
