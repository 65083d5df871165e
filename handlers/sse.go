package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/broadcast"
	"github.com/resonate/resonate-chat/models"
)

// sse is one open stream. Frames are gathered in buf and go out together, one
// write with one deadline per flush; last is the newest seq sent, so that
// nothing goes out twice.
type sse struct {
	c       *gin.Context
	rc      *http.ResponseController
	timeout time.Duration
	room    string
	user    string
	// authHead is the room's head when the stream was authorised: a later
	// event that removes the user ends the stream.
	authHead int64
	last     int64
	m        *Metrics
	buf      []byte
	// lastFlush and interval pace flushes in a busy room (see FlushInterval).
	lastFlush time.Time
	interval  time.Duration
}

// Buffer bounds, in bytes: a replay is written in pieces of at most
// flushAt, and a stream keeps at most keepBuf between flushes so that an idle
// stream holds no large buffer.
const (
	flushAt = 64 << 10
	keepBuf = 4 << 10
)

// flush writes what is gathered, under one write deadline, and pushes it to
// the client.
func (s *sse) flush() error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && err != http.ErrNotSupported {
		return err
	}
	if len(s.buf) > 0 {
		_, err := s.c.Writer.Write(s.buf)
		if cap(s.buf) > keepBuf {
			s.buf = nil
		} else {
			s.buf = s.buf[:0]
		}
		if err != nil {
			return err
		}
	}
	s.lastFlush = time.Now()
	return s.rc.Flush()
}

// write sends b at once, after anything gathered before it.
func (s *sse) write(b []byte) error {
	s.buf = append(s.buf, b...)
	return s.flush()
}

// flushDue says how long gathered frames may still wait: zero means flush
// now. The first frame after a quiet spell goes out at once; frames that
// follow within the interval wait for its end and go out together.
func (s *sse) flushDue() time.Duration {
	return max(time.Until(s.lastFlush.Add(s.interval)), 0)
}

// local writes an event that concerns only this stream: no id, seq 0.
func (s *sse) local(typ string, payload any) error {
	data, err := api.EncodeEvent(&models.Event{RoomID: s.room, Type: typ, Time: time.Now(), Payload: payload})
	if err != nil {
		return err
	}
	return s.write(broadcast.Frame(0, typ, data))
}

// send writes one room event unless it was already sent, and reports whether
// it ends this stream.
func (s *sse) send(seq int64, typ, target string, frame []byte) (ended bool, err error) {
	if seq <= s.last {
		return false, nil
	}
	s.buf = append(s.buf, frame...)
	if len(s.buf) >= flushAt {
		if err := s.flush(); err != nil {
			return false, err
		}
	}
	s.last = seq
	return seq > s.authHead && models.EndsStream(typ, target, s.user), nil
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
	defer func() { s.m.Delivered.Add(float64(n)) }()
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
