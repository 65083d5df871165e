package tests

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers"
)

// A subscriber that disconnects and comes back with its last seen id gets
// exactly what it missed, then live events: no gap, no duplicate.
func TestStreamResume(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		resume func(id string) []string
	}{
		{"Last-Event-ID header", func(id string) []string { return []string{"Last-Event-ID", id} }},
		{"last_event_id query", func(id string) []string { return []string{"?last_event_id=" + id} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := StartServer(t, Options{})
			alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
			room := coreRoom(t, alice, bob)
			st := bob.Stream(room)
			for _, text := range coreTexts("seen", 3) {
				alice.Send(room, text)
			}
			seen := coreNext(t, st, 3, 2*time.Second)
			st.Close()
			var missed []api.RoomMessage
			for _, text := range coreTexts("missed", 5) {
				missed = append(missed, alice.Send(room, text))
			}

			st = bob.Stream(room, tc.resume(strconv.FormatInt(seen[2].Seq, 10))...)
			live := alice.Send(room, "live")
			got := coreNext(t, st, 6, 2*time.Second)
			want := append(missed, live)
			for i := range want {
				if got[i].ID != want[i].ID || got[i].Content != want[i].Content {
					t.Fatalf("event %d after resuming: got %q (seq %d), want %q (seq %d)",
						i, got[i].Content, got[i].Seq, want[i].Content, want[i].Seq)
				}
			}
			if extra := st.Drain(); len(extra) != 0 {
				t.Fatalf("after the live message: got %d more events, want none: %v", len(extra), extra)
			}
		})
	}
}

// The join flow: read history, then stream from its head_seq while others
// keep posting. Five clients join at different moments; for each, history
// plus stream hold every later message exactly once, in order.
func TestStreamJoinFlowLosesNothing(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{HistoryLimit: 1000})
	alice, bob, carol, dave := s.Client(t, "alice"), s.Client(t, "bob"), s.Client(t, "carol"), s.Client(t, "dave")
	room := coreRoom(t, alice, bob, carol, dave)

	const perPoster = 60
	var posted atomic.Int64
	errs := make(chan error, 3*perPoster)
	var wg sync.WaitGroup
	for _, c := range []*Client{alice, bob, carol} {
		wg.Go(func() {
			for _, text := range coreTexts(c.User, perPoster) {
				if status, body, err := corePost(s, c.Token, room, map[string]string{"content": text}); err != nil || status != http.StatusCreated {
					errs <- fmt.Errorf("%s: status %d, err %v: %s", c.User, status, err, body)
					return
				}
				posted.Add(1)
			}
		})
	}
	type join struct {
		page api.HistoryPage
		st   *Stream
	}
	var joins []join
	for i := range 5 {
		waitFor(t, 10*time.Second, "more messages", func() bool { return posted.Load() >= int64(10+i*30) || len(errs) > 0 })
		page := dave.History(room, "?limit=100")
		joins = append(joins, join{page, dave.Stream(room, "Last-Event-ID", strconv.FormatInt(page.HeadSeq, 10))})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("send: %v", err)
	}

	all := coreAll(t, dave, room)
	for i, j := range joins {
		oldest := j.page.Messages[len(j.page.Messages)-1].Seq
		var want, got []string
		for _, m := range all {
			if m.Seq >= oldest {
				want = append(want, m.ID)
			}
		}
		for k := len(j.page.Messages) - 1; k >= 0; k-- {
			got = append(got, j.page.Messages[k].ID)
		}
		for _, m := range coreNext(t, j.st, len(want)-len(got), 5*time.Second) {
			got = append(got, m.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("join %d at head %d: history (%d) + stream: got %v\nwant %v", i, j.page.HeadSeq, len(j.page.Messages), got, want)
		}
		if extra := j.st.Drain(); len(extra) != 0 {
			t.Fatalf("join %d: got %d events after the last message, want none: %+v", i, len(extra), extra)
		}
	}
}

// A subscriber that stops reading is cut off; the others keep getting every
// message within 100 ms.
func TestStreamStalledSubscriberIsDropped(t *testing.T) {
	// Not parallel: it measures latency.
	s := StartServer(t, Options{Queue: 4, WriteTimeout: 500 * time.Millisecond, MaxLength: 30000, HistoryLimit: 10})
	alice, bob, carol, mallory := s.Client(t, "alice"), s.Client(t, "bob"), s.Client(t, "carol"), s.Client(t, "mallory")
	room := coreRoom(t, alice, bob, carol, mallory)
	healthy := []*Stream{bob.Stream(room), carol.Stream(room)}
	stalled := coreOpenStalled(t, s, mallory.Token, room)
	waitFor(t, 2*time.Second, "three open streams", func() bool { return coreMetric(t, s, "chat_open_streams") == 3 })

	// Big messages fill the stalled socket's buffers (a few MB) in a few
	// hundred sends.
	big := strings.Repeat("x", 29000)
	var slowest time.Duration
	sent := 0
	for ; coreMetric(t, s, "chat_open_streams") > 2; sent++ {
		if sent == 1000 {
			t.Fatalf("the stalled stream is still open after %d messages", sent)
		}
		m := alice.Send(room, fmt.Sprintf("%d %s", sent, big))
		at := time.Now()
		for i, st := range healthy {
			ev := st.NextRoomEvent(2 * time.Second)
			d := time.Since(at)
			if ev.ID != strconv.FormatInt(m.Seq, 10) || d > 100*time.Millisecond {
				t.Fatalf("healthy stream %d, message %d: got id %s after %s, want %d within 100ms", i, sent, ev.ID, d, m.Seq)
			}
			slowest = max(slowest, d)
		}
	}
	t.Logf("stalled stream dropped after %d messages; slowest healthy delivery %s", sent, slowest)
	if err := coreReadToEOF(stalled, 10*time.Second); err != nil {
		t.Fatalf("stalled connection: got %v, want it closed by the server", err)
	}
	if got := coreMetric(t, s, "chat_slow_subscriber_disconnects_total"); got != 1 {
		t.Errorf("chat_slow_subscriber_disconnects_total: got %v, want 1", got)
	}
	m := alice.Send(room, "still here")
	for i, st := range healthy {
		if got := coreNext(t, st, 1, 100*time.Millisecond)[0]; got.ID != m.ID {
			t.Fatalf("healthy stream %d after the drop: got %s, want %s", i, got.ID, m.ID)
		}
	}
}

// With a history limit of 5, a client resuming from far back is told its state
// is stale (history.reset, which moves no resume point), then gets every
// retained event once.
func TestStreamRetentionReset(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{HistoryLimit: 5})
	alice := s.Client(t, "alice")
	room := coreRoom(t, alice)
	for _, text := range coreTexts("r", 12) {
		alice.Send(room, text)
	}
	p := alice.History(room, "?limit=100")
	if len(p.Messages) != 5 {
		t.Fatalf("history: got %d messages, want 5", len(p.Messages))
	}
	oldest := p.Messages[4].Seq

	st := alice.Stream(room, "Last-Event-ID", "1")
	reset := st.NextRoomEvent(2 * time.Second)
	env := reset.Envelope(t)
	data, _ := env.Data.(map[string]any)
	if reset.Type != "history.reset" || reset.ID != "" || env.Seq != 0 || data["oldest_seq"] != float64(oldest) {
		t.Fatalf("first event: got %s id %q seq %d data %v, want history.reset, no id, seq 0, oldest_seq %d",
			reset.Type, reset.ID, env.Seq, env.Data, oldest)
	}
	for seq := oldest; seq <= p.HeadSeq; seq++ {
		if ev := st.NextRoomEvent(2 * time.Second); ev.ID != strconv.FormatInt(seq, 10) {
			t.Fatalf("replay: got %s id %q, want id %d", ev.Type, ev.ID, seq)
		}
	}
	live := alice.Send(room, "live")
	if ev := st.NextRoomEvent(2 * time.Second); ev.ID != strconv.FormatInt(live.Seq, 10) {
		t.Fatalf("after the replay: got %s id %q, want the live message %d", ev.Type, ev.ID, live.Seq)
	}
}

// A deleted message's text is gone from a full replay: every frame is checked.
func TestStreamReplayNeverServesDeletedText(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	const secret = "the launch code is 0000"
	bob.Send(room, "before")
	gone := bob.Send(room, secret)
	bob.Must(http.StatusOK, "PATCH", "/api/v1/rooms/"+room+"/messages/"+gone.ID,
		map[string]string{"content": secret + ", edited"}, nil)
	bob.Send(room, "after")
	bob.Must(http.StatusNoContent, "DELETE", "/api/v1/rooms/"+room+"/messages/"+gone.ID, nil, nil)
	head := alice.History(room, "?limit=1").HeadSeq

	st := alice.Stream(room, "Last-Event-ID", "0")
	seenCreated, seenDeleted := false, false
	for seq := int64(1); seq <= head; seq++ {
		ev := st.NextRoomEvent(2 * time.Second)
		if strings.Contains(ev.Data, "launch code") {
			t.Fatalf("replayed %s (id %s): got %s, want the deleted text gone", ev.Type, ev.ID, ev.Data)
		}
		if ev.Type == "message.created" {
			if m := coreMessage(t, ev); m.ID == gone.ID {
				seenCreated = true
				if !m.IsDeleted || m.Content != "" {
					t.Fatalf("replayed creation: got is_deleted %v content %q, want the tombstone", m.IsDeleted, m.Content)
				}
			}
		}
		seenDeleted = seenDeleted || ev.Type == "message.deleted"
	}
	if !seenCreated || !seenDeleted {
		t.Fatalf("replay: got created %v deleted %v, want both events of the deleted message", seenCreated, seenDeleted)
	}
}

// The stream opens with retry:, sends SSE headers, frames each event with
// matching id, event and a single data line, and pings when idle.
func TestStreamFramingAndHeartbeat(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{Heartbeat: time.Second})
	alice := s.Client(t, "alice")
	room := coreRoom(t, alice)

	line := coreFirstLine(t, s, "/api/v1/rooms/"+room+"/events", alice.Token)
	if ms, ok := strings.CutPrefix(strings.TrimSpace(line), "retry: "); !ok || ms == "" || strings.Trim(ms, "0123456789") != "" {
		t.Fatalf("first line: got %q, want retry: <ms>", line)
	}

	st := alice.Stream(room)
	for name, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"} {
		if got := st.Header.Get(name); !strings.HasPrefix(got, want) {
			t.Errorf("header %s: got %q, want %q", name, got, want)
		}
	}
	m := alice.Send(room, "two\nlines")
	ev := st.NextRoomEvent(2 * time.Second)
	env := ev.Envelope(t)
	if ev.ID != strconv.FormatInt(m.Seq, 10) || ev.Type != "message.created" || env.Type != ev.Type || env.RoomID != room ||
		strings.Contains(ev.Data, "\n") || coreMessage(t, ev).Content != "two\nlines" {
		t.Fatalf("frame: got id %q event %q data %q, want id %d, message.created, one data line", ev.ID, ev.Type, ev.Data, m.Seq)
	}
	select {
	case c := <-st.Comments():
		if c != "ping" {
			t.Fatalf("comment: got %q, want ping", c)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no : ping within 3s with a 1s heartbeat")
	}
}

// Closing the server ends open streams promptly.
func TestStreamShutdownEndsStreams(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	streams := []*Stream{alice.Stream(room), bob.Stream(room, "Last-Event-ID", "0")}
	bob.Send(room, "hello")
	for _, st := range streams {
		coreNext(t, st, 1, 2*time.Second)
	}
	start := time.Now()
	s.Close()
	for i, st := range streams {
		if !st.Ended(2 * time.Second) {
			t.Fatalf("stream %d: still open %s after Close, want ended within 2s", i, time.Since(start))
		}
	}
}

// A client that hangs up is noticed at once, not at the next heartbeat: its
// stream slot is free for the reconnection. The response head, written by
// the stream itself, carries what the middleware set.
func TestStreamHangupFreesItsSlot(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{Heartbeat: time.Minute, Limits: handlers.Limits{StreamsPerUser: 1}})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	for i := 0; i < 3; i++ {
		conn := coreOpenStalled(t, s, bob.Token, room)
		head := coreHead(t, conn)
		for _, h := range []string{"Content-Type: text/event-stream", "X-Request-Id: ", "X-Content-Type-Options: nosniff", "Cache-Control: no-cache"} {
			if !strings.Contains(head, h) {
				t.Fatalf("stream response head lacks %q:\n%s", h, head)
			}
		}
		waitFor(t, 2*time.Second, "one open stream", func() bool { return coreMetric(t, s, "chat_open_streams") == 1 })
		conn.Close()
		waitFor(t, 2*time.Second, "the hung-up stream to end", func() bool { return coreMetric(t, s, "chat_open_streams") == 0 })
	}
	st := bob.Stream(room)
	if st.Status != http.StatusOK {
		t.Fatalf("stream after three hang-ups: got %d, want 200", st.Status)
	}
}
