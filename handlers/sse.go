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

// sse is one open stream: it writes frames with a deadline per write and
// remembers the last seq sent, so that nothing goes out twice.
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
}

func (s *sse) write(b []byte) error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && err != http.ErrNotSupported {
		return err
	}
	_, err := s.c.Writer.Write(b)
	return err
}

func (s *sse) flush() error { return s.rc.Flush() }

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
	if err := s.write(frame); err != nil {
		return false, err
	}
	s.last = seq
	s.m.Delivered.Inc()
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

// live writes ev and every event already queued behind it, then flushes once:
// a busy room costs one flush per wake-up, not one per event.
func (s *sse) live(ev *broadcast.Event, queue <-chan *broadcast.Event) (ended bool, err error) {
	for {
		if ended, err = s.send(ev.Seq, ev.Type, ev.Target, ev.Frame); ended || err != nil {
			break
		}
		select {
		case ev = <-queue:
			continue
		default:
		}
		break
	}
	if err != nil {
		return false, err
	}
	return ended, s.flush()
}
