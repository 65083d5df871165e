package broadcast

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// testLog is the event log the hub fills gaps from: each room's committed
// events, oldest first, behind a mutex.
type testLog struct {
	mu            sync.Mutex
	rooms         map[string][]*Event
	afters, heads int
	// headHook, when set, runs after Head has read the head and before it
	// returns: the window in which later commits race the first Subscribe.
	headHook func()
	// afterErr, when set, fails every After; headsErr every Heads.
	afterErr, headsErr error
}

func newTestLog() *testLog { return &testLog{rooms: map[string][]*Event{}} }

func testEvent(room string, seq int64) *Event {
	return &Event{Room: room, Seq: seq, Type: "message.created",
		Frame: Frame(seq, "message.created", fmt.Appendf(nil, `{"room_id":%q,"seq":%d}`, room, seq))}
}

// commit appends n events to room's log with the next seqs and returns them.
func (l *testLog) commit(room string, n int) []*Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := l.rooms[room]
	next := int64(1)
	if len(evs) > 0 {
		next = evs[len(evs)-1].Seq + 1
	}
	out := make([]*Event, n)
	for i := range out {
		out[i] = testEvent(room, next+int64(i))
	}
	l.rooms[room] = append(evs, out...)
	return out
}

// prune deletes room's events below seq, as retention does.
func (l *testLog) prune(room string, below int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rooms[room] = slices.DeleteFunc(l.rooms[room], func(ev *Event) bool { return ev.Seq < below })
}

func (l *testLog) afterCalls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.afters
}

// Head implements Source.
func (l *testLog) Head(_ context.Context, room string) (int64, error) {
	l.mu.Lock()
	var head int64
	if evs := l.rooms[room]; len(evs) > 0 {
		head = evs[len(evs)-1].Seq
	}
	hook := l.headHook
	l.mu.Unlock()
	if hook != nil {
		hook()
	}
	return head, nil
}

// Heads implements Source; a room with no events is closed, or never was.
func (l *testLog) Heads(_ context.Context, rooms []string) (map[string]int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.heads++
	if l.headsErr != nil {
		return nil, l.headsErr
	}
	out := map[string]int64{}
	for _, room := range rooms {
		if evs := l.rooms[room]; len(evs) > 0 {
			out[room] = evs[len(evs)-1].Seq
		}
	}
	return out, nil
}

// reads returns how many times Heads and After were called.
func (l *testLog) reads() (heads, afters int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.heads, l.afters
}

// After implements Source.
func (l *testLog) After(_ context.Context, room string, after int64, limit int) ([]*Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.afters++
	if l.afterErr != nil {
		return nil, l.afterErr
	}
	var out []*Event
	for _, ev := range l.rooms[room] {
		if ev.Seq > after && len(out) < limit {
			out = append(out, ev)
		}
	}
	return out, nil
}

var _ Source = (*testLog)(nil)

func newHub(t *testing.T, src Source) *Memory {
	t.Helper()
	h := NewMemory(src, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func subscribe(t *testing.T, h *Memory, room string) *Subscription {
	t.Helper()
	s, err := h.Subscribe(context.Background(), room)
	if err != nil {
		t.Fatalf("Subscribe(%q): got error %v, want nil", room, err)
	}
	t.Cleanup(s.Close)
	return s
}

func publish(t *testing.T, h *Memory, evs ...*Event) {
	t.Helper()
	for _, ev := range evs {
		if err := h.Publish(context.Background(), ev); err != nil {
			t.Fatalf("Publish(%s #%d): got error %v, want nil", ev.Room, ev.Seq, err)
		}
	}
}

// receive waits for n events. Inside a synctest bubble the wait costs no real
// time; outside one, the deadline only bounds a failing test.
func receive(t *testing.T, s *Subscription, n int) []int64 {
	t.Helper()
	got, err := collect(s, n)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// collect is receive for goroutines other than the test's.
func collect(s *Subscription, n int) ([]int64, error) {
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	var got []int64
	for len(got) < n {
		select {
		case ev := <-s.Events():
			got = append(got, ev.Seq)
		case <-s.Done():
			return got, fmt.Errorf("subscription ended with %v after %d events; want %d", s.Err(), len(got), n)
		case <-deadline.C:
			return got, fmt.Errorf("got %d events in 30 s; want %d", len(got), n)
		}
	}
	return got, nil
}

// queued returns what s holds right now, without waiting.
func queued(s *Subscription) []int64 {
	var got []int64
	for {
		select {
		case ev := <-s.Events():
			got = append(got, ev.Seq)
		default:
			return got
		}
	}
}

func seqs(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// TestMemoryHammer publishes the events of many rooms from several goroutines,
// each batch shuffled and partly duplicated, while subscribers come and go;
// every subscription must see each seq once, in order, with no gap, from the
// head at its start on.
func TestMemoryHammer(t *testing.T) {
	t.Parallel()
	const (
		rooms       = 6
		perRoom     = 1000
		batch       = 10
		publishers  = 4
		subscribers = 8
	)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	log := newTestLog()
	h := newHub(t, log)
	// No subscription here may be dropped for being slow: the queue holds a
	// whole room, so a starved reader on two shared cores is not a failure.
	h.SetQueue(perRoom + 1)
	roomName := func(i int) string { return fmt.Sprintf("room-%d", i) }

	jobs := make(chan string, rooms*perRoom/batch)
	var order []string
	for r := range rooms {
		for range perRoom / batch {
			order = append(order, roomName(r))
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, r := range order {
		jobs <- r
	}
	close(jobs)

	ctx := context.Background()
	var pubs, subs sync.WaitGroup
	var rounds, received atomic.Int64
	start, published := make(chan struct{}), make(chan struct{})
	for p := range publishers {
		pubs.Go(func() {
			<-start
			rng := rand.New(rand.NewPCG(seed, uint64(p+1)))
			var old []*Event
			for room := range jobs {
				evs := log.commit(room, batch)
				out := slices.Clone(evs)
				for _, ev := range evs {
					if rng.IntN(3) == 0 {
						out = append(out, ev) // a duplicate
					}
				}
				if len(old) > 0 {
					out = append(out, old[rng.IntN(len(old))]) // a stale one
				}
				rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
				for _, ev := range out {
					if err := h.Publish(ctx, ev); err != nil {
						t.Errorf("Publish(%s #%d): got %v, want nil", ev.Room, ev.Seq, err)
					}
				}
				old = append(old, evs...)
				runtime.Gosched() // let subscriptions come and go between batches
			}
		})
	}

	// round subscribes to room, reads up to limit events (all that remain
	// when limit is 0) and checks them.
	round := func(room string, limit int) {
		rounds.Add(1)
		sub, err := h.Subscribe(ctx, room)
		if err != nil {
			t.Errorf("Subscribe(%q): got %v, want nil", room, err)
			return
		}
		defer sub.Close()
		head, _ := log.Head(ctx, room)
		deadline := time.NewTimer(30 * time.Second)
		defer deadline.Stop()
		var got []int64
		for (limit == 0 || len(got) < limit) && head < perRoom && (len(got) == 0 || got[len(got)-1] < perRoom) {
			select {
			case ev := <-sub.Events():
				if ev.Room != room {
					t.Errorf("subscription to %s got an event of %s", room, ev.Room)
					return
				}
				if len(got) == 0 && ev.Seq > head+1 {
					t.Errorf("%s: first event %d, but the head after Subscribe was %d: events %d..%d missed",
						room, ev.Seq, head, head+1, ev.Seq-1)
					return
				}
				if len(got) > 0 && ev.Seq != got[len(got)-1]+1 {
					t.Errorf("%s: got seq %d after %d, want %d", room, ev.Seq, got[len(got)-1], got[len(got)-1]+1)
					return
				}
				got = append(got, ev.Seq)
				received.Add(1)
			case <-sub.Done():
				t.Errorf("%s: subscription dropped with %v after %d events", room, sub.Err(), len(got))
				return
			case <-deadline.C:
				t.Errorf("%s: stuck after %v (head at subscribe %d)", room, got[max(0, len(got)-3):], head)
				return
			}
		}
	}
	// Two subscriptions per room follow it from before the first publish to
	// the end; the others come and go meanwhile.
	var ready sync.WaitGroup
	for r := range 2 * rooms {
		ready.Add(1)
		subs.Go(func() {
			sub, err := h.Subscribe(ctx, roomName(r%rooms))
			ready.Done()
			if err != nil {
				t.Errorf("Subscribe: got %v, want nil", err)
				return
			}
			defer sub.Close()
			got, err := collect(sub, perRoom)
			if err != nil {
				t.Errorf("%s: %v", roomName(r%rooms), err)
			} else if !slices.Equal(got, seqs(1, perRoom)) {
				t.Errorf("%s: got %d events, not 1..%d in order", roomName(r%rooms), len(got), perRoom)
			}
			received.Add(int64(len(got)))
		})
	}
	ready.Wait()
	close(start)
	for s := range subscribers {
		subs.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(100+s)))
			for {
				select {
				case <-published:
					return
				default:
				}
				round(roomName(rng.IntN(rooms)), 1+rng.IntN(40))
			}
		})
	}
	pubs.Wait()
	close(published)
	subs.Wait()
	t.Logf("%d subscriptions received %d events", rounds.Load(), received.Load())
}

// TestMemoryGapFilledFromLog loses the publish of seq 4 and publishes 5: after
// the gap wait, and not before, the hub reads 4 from the log and delivers 4, 5.
func TestMemoryGapFilledFromLog(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		log := newTestLog()
		log.commit("r", 3)
		h := newHub(t, log)
		sub := subscribe(t, h, "r")
		evs := log.commit("r", 2) // 4 and 5
		start := time.Now()
		publish(t, h, evs[1])
		synctest.Wait()
		if got := queued(sub); len(got) != 0 {
			t.Fatalf("before the gap wait: got %v, want nothing", got)
		}
		if got := receive(t, sub, 2); !slices.Equal(got, []int64{4, 5}) {
			t.Errorf("got %v, want [4 5]", got)
		}
		if got := time.Since(start); got != DefaultGapWait {
			t.Errorf("gap filled after %v, want %v", got, DefaultGapWait)
		}
		if got := log.afterCalls(); got != 1 {
			t.Errorf("got %d reads of the log, want 1", got)
		}
		publish(t, h, evs[0]) // the lost publish, late: already delivered
		synctest.Wait()
		if got := queued(sub); len(got) != 0 {
			t.Errorf("after a late duplicate: got %v, want nothing", got)
		}
	})
}

// TestMemoryGapWaitNotExtended: events that keep arriving behind a gap must
// not postpone its filling; the first one held back waits DefaultGapWait.
func TestMemoryGapWaitNotExtended(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		log := newTestLog()
		h := newHub(t, log)
		sub := subscribe(t, h, "r")
		evs := log.commit("r", 4) // 1 is lost; 2, 3, 4 arrive 60 ms apart
		start := time.Now()
		publish(t, h, evs[1])
		late := make(chan struct{})
		go func() {
			defer close(late)
			for _, ev := range evs[2:] {
				time.Sleep(60 * time.Millisecond) // moves the bubble's clock only
				_ = h.Publish(context.Background(), ev)
			}
		}()
		defer func() { <-late }()
		got := receive(t, sub, 1)
		if elapsed := time.Since(start); elapsed != DefaultGapWait {
			t.Errorf("first event after %v, want %v", elapsed, DefaultGapWait)
		}
		got = append(got, receive(t, sub, 3)...)
		if !slices.Equal(got, []int64{1, 2, 3, 4}) {
			t.Errorf("got %v, want [1 2 3 4]", got)
		}
	})
}

// TestMemoryTooManyPending fills a gap at once, without the wait, when more
// than maxPending events are held back behind it.
func TestMemoryTooManyPending(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		log := newTestLog()
		h := newHub(t, log)
		h.SetQueue(2 * maxPending)
		sub := subscribe(t, h, "r")
		evs := log.commit("r", maxPending+2)
		start := time.Now()
		publish(t, h, evs[1:]...)
		got := receive(t, sub, len(evs))
		if !slices.Equal(got, seqs(1, int64(len(evs)))) {
			t.Errorf("got %d events %v…, want 1..%d in order", len(got), got[:min(5, len(got))], len(evs))
		}
		if elapsed := time.Since(start); elapsed != 0 {
			t.Errorf("filled after %v, want at once", elapsed)
		}
	})
}

// TestMemorySlowSubscriberDropped stalls one subscriber with a queue of 4: it
// is dropped with ErrSlow on the fifth event, keeping the four it had, while
// the other has each event queued by the time Publish returns.
func TestMemorySlowSubscriberDropped(t *testing.T) {
	t.Parallel()
	// In a bubble, a Publish that blocked on the stalled subscriber would be
	// reported as a deadlock instead of hanging the test.
	synctest.Test(t, func(t *testing.T) {
		log := newTestLog()
		h := newHub(t, log)
		h.SetQueue(4)
		stalled := subscribe(t, h, "r")
		healthy := subscribe(t, h, "r")
		for _, ev := range log.commit("r", 100) {
			publish(t, h, ev)
			select {
			case got := <-healthy.Events():
				if got.Seq != ev.Seq {
					t.Fatalf("healthy: got seq %d, want %d", got.Seq, ev.Seq)
				}
			default:
				t.Fatalf("healthy: nothing queued when Publish(#%d) returned, want #%d", ev.Seq, ev.Seq)
			}
			select {
			case <-stalled.Done():
				if ev.Seq <= 4 {
					t.Fatalf("stalled: dropped at #%d with a queue of 4, want it kept until #5", ev.Seq)
				}
			default:
				if ev.Seq > 4 {
					t.Fatalf("stalled: still subscribed after #%d, want dropped at #5", ev.Seq)
				}
			}
		}
		if err := stalled.Err(); !errors.Is(err, ErrSlow) {
			t.Errorf("stalled: got Err %v, want %v", err, ErrSlow)
		}
		if got := queued(stalled); !slices.Equal(got, []int64{1, 2, 3, 4}) {
			t.Errorf("stalled: got queued %v, want [1 2 3 4]", got)
		}
		stalled.Close()
		if err := stalled.Err(); !errors.Is(err, ErrSlow) {
			t.Errorf("stalled after Close: got Err %v, want it to stay %v", err, ErrSlow)
		}
		if err := healthy.Err(); err != nil {
			t.Errorf("healthy: got Err %v, want nil", err)
		}
	})
}

// TestMemorySubscribeAfterEvents: a subscription gets only what follows the
// head at its start, whether the room was idle or already followed.
func TestMemorySubscribeAfterEvents(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		log := newTestLog()
		h := newHub(t, log)
		old := log.commit("r", 10)
		publish(t, h, old...) // no one listens: dropped
		a := subscribe(t, h, "r")
		publish(t, h, old...)
		publish(t, h, log.commit("other", 3)...)
		publish(t, h, log.commit("r", 2)...)
		synctest.Wait()
		if got := queued(a); !slices.Equal(got, []int64{11, 12}) {
			t.Errorf("first subscriber: got %v, want [11 12]", got)
		}
		b := subscribe(t, h, "r") // the room is followed: its head is the last delivered
		publish(t, h, old[9])
		publish(t, h, log.commit("r", 1)...)
		synctest.Wait()
		if got := queued(b); !slices.Equal(got, []int64{13}) {
			t.Errorf("second subscriber: got %v, want [13]", got)
		}
		if got := queued(a); !slices.Equal(got, []int64{13}) {
			t.Errorf("first subscriber: got %v, want [13]", got)
		}
	})
}

// TestMemoryCommitDuringFirstSubscribe commits and publishes an event while
// the first Subscribe of a room is reading the head: the event is held and
// delivered, and an older one is not.
func TestMemoryCommitDuringFirstSubscribe(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		log := newTestLog()
		old := log.commit("r", 10)
		h := newHub(t, log)
		read, release := make(chan struct{}), make(chan struct{})
		log.headHook = func() { close(read); <-release }
		var sub *Subscription
		done := make(chan struct{})
		go func() {
			defer close(done)
			sub = subscribe(t, h, "r")
		}()
		<-read // the head, 10, is read
		publish(t, h, log.commit("r", 1)...)
		publish(t, h, old[9])
		close(release)
		<-done
		publish(t, h, log.commit("r", 1)...)
		synctest.Wait()
		if got := queued(sub); !slices.Equal(got, []int64{11, 12}) {
			t.Errorf("got %v, want [11 12]", got)
		}
	})
}

// TestMemoryClose ends every subscription of every room with ErrClosed and
// refuses new ones.
func TestMemoryClose(t *testing.T) {
	t.Parallel()
	log := newTestLog()
	h := newHub(t, log)
	subs := []*Subscription{subscribe(t, h, "a"), subscribe(t, h, "a"), subscribe(t, h, "b")}
	own := subscribe(t, h, "a")
	own.Close()
	if err := own.Err(); !errors.Is(err, ErrClosed) {
		t.Errorf("closed subscription: got Err %v, want %v", err, ErrClosed)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	for i, s := range subs {
		select {
		case <-s.Done():
		default:
			t.Fatalf("subscription %d: Done not closed after Close", i)
		}
		if err := s.Err(); !errors.Is(err, ErrClosed) {
			t.Errorf("subscription %d: got Err %v, want %v", i, err, ErrClosed)
		}
		s.Close() // after the hub: harmless
	}
	if _, err := h.Subscribe(context.Background(), "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close: got %v, want %v", err, ErrClosed)
	}
	if err := h.Publish(context.Background(), testEvent("a", 1)); err != nil {
		t.Errorf("Publish after Close: got %v, want nil", err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}

// TestMemoryCatchUp fills gaps at once, without the gap wait.
func TestMemoryCatchUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// commit events 4..4+commit-1 after subscribing at head 3, publish
		// those at the given indexes, prune the log below pruneBelow.
		commit     int
		publish    []int
		pruneBelow int64
		want       []int64
	}{
		{"lost publish of the newest event", 1, nil, 0, []int64{4}},
		{"gap before published events", 3, []int{2}, 0, []int64{4, 5, 6}},
		{"every publish lost", 5, nil, 0, []int64{4, 5, 6, 7, 8}},
		// The missing events are gone from the log: the hub goes on from the
		// oldest one there is (documented in fill).
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				log := newTestLog()
				log.commit("r", 3)
				h := newHub(t, log)
				sub := subscribe(t, h, "r")
				idle := subscribe(t, h, "idle")
				evs := log.commit("r", tt.commit)
				for _, i := range tt.publish {
					publish(t, h, evs[i])
				}
				if tt.pruneBelow > 0 {
					log.prune("r", tt.pruneBelow)
				}
				start := time.Now()
				h.CatchUp()
				if got := queued(sub); !slices.Equal(got, tt.want) {
					t.Errorf("got %v, want %v", got, tt.want)
				}
				if got := time.Since(start); got != 0 {
					t.Errorf("CatchUp took %v of the clock, want none", got)
				}
				if got := queued(idle); len(got) != 0 {
					t.Errorf("idle room: got %v, want nothing", got)
				}
				publish(t, h, log.commit("r", 1)...)
				want := tt.want[len(tt.want)-1] + 1
				if got := queued(sub); !slices.Equal(got, []int64{want}) {
					t.Errorf("after CatchUp: got %v, want [%d]", got, want)
				}
			})
		})
	}
}

// TestMemoryCatchUpIdleRooms: a catch-up reads every room's head in one read
// and the events of the rooms behind theirs only, so idle rooms cost one read
// in all; when the heads cannot be read, the next catch-up still fills.
func TestMemoryCatchUpIdleRooms(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const rooms = 1000
		log := newTestLog()
		h := newHub(t, log)
		subs := make([]*Subscription, rooms)
		for i := range subs {
			room := fmt.Sprintf("r%d", i)
			log.commit(room, 2)
			subs[i] = subscribe(t, h, room)
		}
		h.CatchUp()
		if heads, afters := log.reads(); heads != 1 || afters != 0 {
			t.Errorf("idle: got %d reads of heads and %d of events, want 1 and 0", heads, afters)
		}

		log.commit("r7", 1) // its publish was lost
		log.commit("r9", 2)
		log.mu.Lock()
		log.headsErr = errors.New("database is down")
		log.mu.Unlock()
		h.CatchUp()
		if got := queued(subs[7]); len(got) != 0 {
			t.Errorf("with the heads unreadable: got %v, want nothing", got)
		}
		log.mu.Lock()
		log.headsErr = nil
		log.mu.Unlock()
		h.CatchUp()
		if got := queued(subs[7]); !slices.Equal(got, []int64{3}) {
			t.Errorf("room behind by one: got %v, want [3]", got)
		}
		if got := queued(subs[9]); !slices.Equal(got, []int64{3, 4}) {
			t.Errorf("room behind by two: got %v, want [3 4]", got)
		}
		if heads, afters := log.reads(); heads != 3 || afters != 2 {
			t.Errorf("in all: got %d reads of heads and %d of events, want 3 and 2", heads, afters)
		}
		for i, sub := range subs {
			if got := queued(sub); len(got) != 0 && i != 7 && i != 9 {
				t.Errorf("idle room r%d: got %v, want nothing", i, got)
			}
		}
	})
}

// TestMemoryRetentionOutranGap: when the log no longer holds the events a gap
// is missing, subscribers are dropped (so they resume by Last-Event-ID and get
// history.reset) rather than silently skipped; the room goes on from the oldest
// event there is for whoever subscribes next.
func TestMemoryRetentionOutranGap(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		log := newTestLog()
		log.commit("r", 3)
		h := newHub(t, log)
		sub := subscribe(t, h, "r")
		evs := log.commit("r", 7) // 4..10
		publish(t, h, evs[6])     // 10 arrives; 4..9 never do
		log.prune("r", 8)         // and 4..7 fall out of retention
		h.CatchUp()
		if got := queued(sub); len(got) != 0 {
			t.Errorf("queued %v, want nothing delivered past a hole", got)
		}
		select {
		case <-sub.Done():
			if !errors.Is(sub.Err(), ErrSlow) {
				t.Errorf("Err() = %v, want ErrSlow", sub.Err())
			}
		default:
			t.Fatal("subscriber still open after retention outran its gap")
		}
		next := subscribe(t, h, "r")
		publish(t, h, log.commit("r", 1)...)
		if got := queued(next); !slices.Equal(got, []int64{11}) {
			t.Errorf("new subscriber: got %v, want [11]", got)
		}
	})
}

// TestMemoryFillRetriesAfterError keeps the events held back when the log
// cannot be read, and fills the gap on a later try.
func TestMemoryFillRetriesAfterError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		log := newTestLog()
		h := newHub(t, log)
		sub := subscribe(t, h, "r")
		evs := log.commit("r", 2)
		log.mu.Lock()
		log.afterErr = errors.New("database is down")
		log.mu.Unlock()
		publish(t, h, evs[1])
		time.Sleep(DefaultGapWait) // moves the bubble's clock to the failing fill
		synctest.Wait()
		if got := queued(sub); len(got) != 0 {
			t.Fatalf("while the log fails: got %v, want nothing", got)
		}
		log.mu.Lock()
		log.afterErr = nil
		log.mu.Unlock()
		if got := receive(t, sub, 2); !slices.Equal(got, []int64{1, 2}) {
			t.Errorf("got %v, want [1 2]", got)
		}
		if got := log.afterCalls(); got != 2 {
			t.Errorf("got %d reads of the log, want 2", got)
		}
	})
}
