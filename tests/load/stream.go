package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"
)

// subscriber is one stream user: a participant of one room with one SSE
// connection, reconnected with Last-Event-ID (and a fresh ticket) whenever the
// server ends it, as EventSource would.
type subscriber struct {
	id    int
	room  *roomState
	node  *node // the server it streams from
	user  string
	token string
	// base is the head_seq the stream first opened at: every event after it
	// must arrive exactly once and in order.
	base   int64
	opened bool // the first open succeeded

	last       atomic.Int64 // newest seq received; read by the grace wait
	seen       bitset       // seq-base of every event received; reader only
	dups       atomic.Int64
	outOfOrder atomic.Int64
	resets     atomic.Int64 // history.reset frames: events skipped for good
	reconnects atomic.Int64
	failed     atomic.Bool // could not reconnect before the run ended
	// stallUntil (unix ns), when set, makes the reader stop reading until
	// then: a client on a bad network, which the server must drop without
	// slowing anyone else, and which then resumes by Last-Event-ID.
	stallUntil atomic.Int64
	done       chan struct{}

	// With -react: the message.reactions events received (reader only
	// until the stream has ended), each target's last tally, and its
	// total for the grace wait.
	tallies []tallyEvent
	final   []string
	totals  []atomic.Int64
}

// stampKey is where a message's send time sits in a data line: the generator
// starts every content with "t=<unix nanoseconds> s=<step> ".
var stampKey = []byte(`"content":"t=`)

// frameState is what the parser keeps of the frame being read.
type frameState struct {
	id      int64 // -1: the frame has no id line
	sentNs  int64 // 0: not a message of this generator
	step    int
	isReset bool
	// a message.reactions frame: its message's seq, total and tally
	isTally bool
	msgSeq  int64
	total   int
	tally   string
}

// read consumes one connection's frames until it ends. Only three things are
// looked at: the id line, the event name of history.reset, and the send
// stamp inside a message's data line; the JSON is never decoded, except a
// message.reactions event's (with -react, about one a second per message).
func (s *subscriber) read(body io.Reader, rec *recorder) error {
	br := bufio.NewReaderSize(body, 8<<10)
	f := frameState{id: -1}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: only its head can hold what
			// we look for; skip the rest.
			s.parseLine(line, &f)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if len(line) == 1 { // "\n": the frame is complete
			if f.isReset {
				s.resets.Add(1)
			}
			if f.id >= 0 && s.onEvent(f.id, f.sentNs, f.step, rec) && f.isTally {
				s.onTally(f.id, f.msgSeq, f.total, f.tally, int(rec.step.Load()))
			}
			f = frameState{id: -1}
			if until := s.stallUntil.Load(); until != 0 {
				time.Sleep(time.Until(time.Unix(0, until)))
				s.stallUntil.Store(0)
			}
			continue
		}
		s.parseLine(line, &f)
	}
}

func (s *subscriber) parseLine(line []byte, f *frameState) {
	switch {
	case bytes.HasPrefix(line, []byte("id: ")):
		if n, rest := parseUint(line[4:]); len(rest) > 0 && rest[0] == '\n' {
			f.id = n
		}
	case bytes.HasPrefix(line, reactionsPrefix):
		f.msgSeq, f.total, f.tally, f.isTally = parseTally(line)
	case bytes.HasPrefix(line, []byte("data: ")):
		i := bytes.Index(line, stampKey)
		if i < 0 {
			return
		}
		ns, rest := parseUint(line[i+len(stampKey):])
		f.sentNs = ns
		if len(rest) > 3 && rest[0] == ' ' && rest[1] == 's' && rest[2] == '=' {
			st, _ := parseUint(rest[3:])
			f.step = int(st)
		}
	case bytes.HasPrefix(line, []byte("event: history.reset")):
		f.isReset = true
	}
}

// onEvent checks one room event: each seq after base once, in increasing
// order; a message's delivery latency is recorded against its step. It
// reports whether the event is new to the stream.
func (s *subscriber) onEvent(seq, sentNs int64, step int, rec *recorder) (fresh bool) {
	now := time.Now()
	last := s.last.Load()
	fresh = true
	if seq <= s.base || s.seen.testAndSet(seq-s.base) {
		s.dups.Add(1)
		fresh = false
	} else if seq < last {
		s.outOfOrder.Add(1)
	}
	if seq > last {
		s.last.Store(seq)
	}
	if sentNs > 0 {
		rec.delivered(step, s.id, now.Sub(time.Unix(0, sentNs)))
	}
	return fresh
}

// run reads the stream until ctx ends, reconnecting after the server ends it:
// a fresh ticket, Last-Event-ID set to the newest seq received.
func (s *subscriber) run(ctx context.Context, c *client, body io.ReadCloser, rec *recorder) {
	defer close(s.done)
	for {
		err := s.read(body, rec)
		body.Close()
		if ctx.Err() != nil {
			return
		}
		_ = err // the server ended the stream: a slow-subscriber drop, or shutdown
		s.reconnects.Add(1)
		for {
			if body, err = s.reopen(ctx, c); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				s.failed.Store(true)
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func (s *subscriber) reopen(ctx context.Context, c *client) (io.ReadCloser, error) {
	t, err := c.ticket(ctx, s.token, s.room.id)
	if err != nil {
		return nil, err
	}
	return c.openStream(ctx, t, s.room.id, s.last.Load())
}

// parseUint reads a decimal number at the start of b and returns the rest.
func parseUint(b []byte) (int64, []byte) {
	var n int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	return n, b[i:]
}
