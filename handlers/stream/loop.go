package stream

import (
	"time"

	"github.com/resonate/resonate-chat/broadcast"
	"github.com/resonate/resonate-chat/models"
)

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
