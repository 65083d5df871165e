package stream

import (
	"testing"
	"time"
)

// Pacing holds events back only in a busy room: at least one event per
// interval over the last second.
func TestFlushPacingOnlyInBusyRooms(t *testing.T) {
	const interval = 15 * time.Millisecond
	for _, tc := range []struct {
		name       string
		lastSecond int // events seen in the last whole second
		thisSecond int // events seen so far in this one
		paced      bool
	}{
		{"quiet room (W2: 10/s)", 10, 3, false},
		{"just under one per interval", 66, 10, false},
		{"busy room (W1: 200/s)", 200, 40, true},
		{"a burst in this second", 0, 70, true},
		{"pacing off", 200, 40, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sse{interval: interval, lastFlush: time.Now(), winStart: time.Now(), lastRate: tc.lastSecond, winCount: tc.thisSecond}
			if tc.name == "pacing off" {
				s.interval = -1
			}
			if got := s.flushDue() > 0; got != tc.paced {
				t.Errorf("flushDue just after a flush: paced %v, want %v", got, tc.paced)
			}
		})
	}
}

// The rate window rolls over each second and forgets a room gone quiet.
func TestFlushPacingRateWindow(t *testing.T) {
	s := &sse{winStart: time.Now()}
	s.count(150)
	if s.lastRate != 0 || s.winCount != 150 {
		t.Fatalf("within the first second: last %d, this %d; want 0, 150", s.lastRate, s.winCount)
	}
	s.winStart = s.winStart.Add(-1100 * time.Millisecond)
	s.count(1)
	if s.lastRate != 150 || s.winCount != 1 {
		t.Fatalf("after a second: last %d, this %d; want 150, 1", s.lastRate, s.winCount)
	}
	s.winStart = s.winStart.Add(-3 * time.Second)
	s.count(1)
	if s.lastRate != 0 || s.winCount != 1 {
		t.Fatalf("after a quiet spell: last %d, this %d; want 0, 1", s.lastRate, s.winCount)
	}
}
