package stream

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/broadcast"
	"github.com/resonate/resonate-chat/models"
)

// sse is one open stream. An idle one on a taken-over connection is one
// goroutine parked in run and this struct: no request, no net/http buffers,
// no buffer of its own. Frames are gathered in buf (from a pool) and go out
// together, one write with one deadline per flush; last is the newest seq
// sent, so that nothing goes out twice. The stream's goroutine alone uses it.
type sse struct {
	out   transport
	sub   *broadcast.Subscription
	leave func() // gives the stream's slot back
	room  string
	user  string
	admin bool // a platform admin's stream, which only the room closing ends
	// authHead is the room's head when the stream was authorised: a later
	// event that removes the user ends the stream.
	authHead int64
	last     int64
	m        *Metrics
	log      *slog.Logger
	started  time.Time
	buf      *[]byte
	// stuck is set when a write outlived its deadline: the client stopped
	// reading, which is falling behind as much as a full queue is.
	stuck bool
	// lastFlush, interval and the rate window pace flushes in a busy room
	// (see FlushInterval).
	lastFlush time.Time
	interval  time.Duration
	winStart  time.Time
	winCount  int
	lastRate  int
}

// replayBatch is how many logged events one read of a replay takes: a whole
// room's retained history in a few reads, without holding a big slice.
const replayBatch = 256

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
		err = s.out.write(b)
		s.stuck = s.stuck || errors.Is(err, os.ErrDeadlineExceeded)
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
func (s *sse) send(ev *broadcast.Event) (ended bool, err error) {
	if ev.Seq <= s.last {
		return false, nil
	}
	s.append(ev.Frame)
	if len(*s.buf) >= flushAt {
		if err := s.flush(); err != nil {
			return false, err
		}
	}
	s.last = ev.Seq
	return ev.Seq > s.authHead && ev.EndsStreamOf(s.user, s.admin), nil
}

// replay writes the logged events after the resume point (after the head the
// stream was authorised at, when there is none). Seqs are dense, so when the
// log no longer holds the next one (retention deleted it, or the resume point
// is not from this room's timeline) the client gets history.reset, then every
// retained event.
func (s *sse) replay(ctx context.Context, log EventLog, resume *int64) (ended bool, err error) {
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
			ev := Frame(&r.Events[i])
			if ev.Seq > s.last {
				s.m.Delivered.Inc()
			}
			ended, err := s.send(ev)
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
			if ended, err = s.send(ev); ended || err != nil {
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

// Frame frames a logged event as the broadcaster carries it.
func Frame(row *models.EventRow) *broadcast.Event {
	var target string
	if row.TargetID != nil {
		target = *row.TargetID
	}
	end := models.EndsStreams(row.Type, target)
	return &broadcast.Event{Room: row.RoomID, Seq: row.Seq, Type: row.Type, EndsAll: end.All, EndsUser: end.User,
		Frame: broadcast.Frame(row.Seq, row.Type, []byte(row.Data))}
}
