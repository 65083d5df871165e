package tests

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// Four users post 50 messages each at once: every subscriber sees all 200 in
// the same strictly increasing seq order, and history tells the same story.
func TestCoreConcurrentSendersOneOrder(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{HistoryLimit: 1000}) // keep all 200 for the history check
	owner := s.Client(t, "owner")
	var senders, subs []*Client
	for i := range 4 {
		senders = append(senders, s.Client(t, fmt.Sprintf("sender%d", i)))
	}
	for i := range 3 {
		subs = append(subs, s.Client(t, fmt.Sprintf("reader%d", i)))
	}
	room := coreRoom(t, owner, append(senders, subs...)...)
	streams := make([]*Stream, len(subs))
	for i, c := range subs {
		streams[i] = c.Stream(room)
	}

	const perSender = 50
	errs := make(chan error, len(senders)*perSender)
	var wg sync.WaitGroup
	for _, c := range senders {
		wg.Go(func() {
			for _, text := range coreTexts(c.User, perSender) {
				if status, body, err := corePost(s, c.Token, room, map[string]string{"content": text}); err != nil || status != http.StatusCreated {
					errs <- fmt.Errorf("%s: status %d, err %v: %s", c.User, status, err, body)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("send: %v", err)
	}

	const total = 4 * perSender
	var want []api.RoomMessage
	for i, st := range streams {
		got := coreNext(t, st, total, 10*time.Second)
		coreIncreasing(t, subs[i].User, coreSeqs(got))
		if want == nil {
			want = got
			continue
		}
		for j := range got {
			if got[j].ID != want[j].ID || got[j].Seq != want[j].Seq {
				t.Fatalf("%s message %d: got %s seq %d, want %s seq %d as %s saw it",
					subs[i].User, j, got[j].ID, got[j].Seq, want[j].ID, want[j].Seq, subs[0].User)
			}
		}
	}
	hist := coreAll(t, owner, room)
	if len(hist) != total {
		t.Fatalf("history: got %d messages, want %d", len(hist), total)
	}
	for j := range hist {
		if hist[j].ID != want[j].ID || hist[j].Seq != want[j].Seq || hist[j].Content != want[j].Content {
			t.Fatalf("history message %d: got %s seq %d %q, want %s seq %d %q",
				j, hist[j].ID, hist[j].Seq, hist[j].Content, want[j].ID, want[j].Seq, want[j].Content)
		}
	}
}

// A send retried with the same client_id shows once; other content under the
// same client_id is a conflict.
func TestCoreIdempotentSend(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	st := alice.Stream(room)
	path := "/api/v1/rooms/" + room + "/messages"
	body := map[string]string{"content": "hello once", "client_id": "c-1"}

	var first, again api.RoomMessage
	bob.Must(http.StatusCreated, "POST", path, body, &first)
	if first.ClientID == nil || *first.ClientID != "c-1" {
		t.Fatalf("client_id: got %v, want c-1", first.ClientID)
	}
	bob.Must(http.StatusOK, "POST", path, body, &again)
	if again.ID != first.ID || again.Seq != first.Seq || again.Timestamp != first.Timestamp {
		t.Fatalf("retry: got %s seq %d, want the original %s seq %d", again.ID, again.Seq, first.ID, first.Seq)
	}
	coreProblem(t, bob.Do("POST", path, map[string]string{"content": "something else", "client_id": "c-1"}),
		http.StatusConflict, "conflict")
	// Another user may use the same client_id: it is the sender's own.
	alice.Must(http.StatusCreated, "POST", path, map[string]string{"content": "hello once", "client_id": "c-1"}, nil)

	got := coreNext(t, st, 2, 2*time.Second)
	if got[0].ID != first.ID || got[0].ClientID == nil || *got[0].ClientID != "c-1" {
		t.Fatalf("first broadcast: got %s client_id %v, want %s with c-1", got[0].ID, got[0].ClientID, first.ID)
	}
	if got[1].SenderID != "alice" {
		t.Fatalf("second broadcast: got a message of %s, want alice's (bob's retry must not be broadcast)", got[1].SenderID)
	}
	n := 0
	for _, m := range bob.History(room, "").Messages {
		if m.SenderID == "bob" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("history: got %d messages from bob, want 1", n)
	}
}

// Line breaks are normalised to LF and surrounding white space is trimmed,
// the same in the answer, in history and on the stream.
func TestCoreContentNormalised(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice := s.Client(t, "alice")
	room := coreRoom(t, alice)
	st := alice.Stream(room)
	cases := []struct{ in, want string }{
		{"a\r\nb", "a\nb"},
		{"a\rb", "a\nb"},
		{"a\r\n\r\nb\r", "a\n\nb"},
		{"  \t\n hello \n\t ", "hello"},
		{"\r\n one\r\rtwo \r\n", "one\n\ntwo"},
		{"tab\tinside", "tab\tinside"},
		// CR LF counts as one code point: 2001 before, 2000 after.
		{strings.Repeat("x", 999) + "\r\n" + strings.Repeat("y", 1000), strings.Repeat("x", 999) + "\n" + strings.Repeat("y", 1000)},
	}
	for _, c := range cases {
		m := alice.Send(room, c.in)
		if m.Content != c.want {
			t.Errorf("send %q: got %q, want %q", c.in, m.Content, c.want)
		}
		if ev := coreNext(t, st, 1, 2*time.Second)[0]; ev.Content != c.want {
			t.Errorf("stream for %q: got %q, want %q", c.in, ev.Content, c.want)
		}
		var stored api.RoomMessage
		alice.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/messages/"+m.ID, nil, &stored)
		if stored.Content != c.want {
			t.Errorf("stored %q: got %q, want %q", c.in, stored.Content, c.want)
		}
	}
}

// 32 users post at once, most into one room: SQLite queues them, nobody sees a
// 5xx and the log never mentions a locked database.
func TestCoreManyConcurrentPosters(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	owner := s.Client(t, "owner")
	rooms := make([]string, 5) // rooms[0] gets 24 posters, the others 2 each
	members := make([][]*Client, len(rooms))
	for i := range rooms {
		rooms[i] = coreRoom(t, owner)
	}
	for i := range 32 {
		r := 0
		if i >= 24 {
			r = 1 + i%4
		}
		c := s.Client(t, fmt.Sprintf("poster%02d", i))
		c.Join(rooms[r])
		members[r] = append(members[r], c)
	}

	const each = 3
	start := make(chan struct{})
	results := make(chan string, 32*each)
	var wg sync.WaitGroup
	for r, cs := range members {
		for _, c := range cs {
			wg.Go(func() {
				<-start
				for i := range each {
					status, body, err := corePost(s, c.Token, rooms[r], map[string]string{"content": fmt.Sprintf("%s says %d", c.User, i)})
					if err != nil || status != http.StatusCreated {
						results <- fmt.Sprintf("%s: status %d, err %v: %s", c.User, status, err, body)
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(results)
	for r := range results {
		t.Errorf("post: got %s, want 201", r)
	}
	for r, cs := range members {
		if got := len(owner.History(rooms[r], "?limit=100").Messages); got != len(cs)*each {
			t.Errorf("room %s history: got %d messages, want %d", rooms[r], got, len(cs)*each)
		}
	}
	if logs := s.Logs.String(); strings.Contains(logs, "database is locked") || strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("logs: got a locked database or an error, want neither:\n%s", logs)
	}
}

// History pages walk back with before, forward with after (oldest first), say
// whether more remain, and carry the room's head seq.
func TestCoreHistoryPagination(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob, carol := s.Client(t, "alice"), s.Client(t, "bob"), s.Client(t, "carol")
	room := coreRoom(t, alice, bob)
	var seq []int64 // seq[i] is message i's
	for _, text := range coreTexts("m", 7) {
		seq = append(seq, bob.Send(room, text).Seq)
	}
	carol.Join(room) // an event that is not a message moves head_seq
	head := alice.History(room, "?limit=1").HeadSeq
	if head <= seq[6] {
		t.Fatalf("head_seq: got %d, want above the last message's %d after a join", head, seq[6])
	}
	cases := []struct {
		query string
		want  []int64
		more  bool
	}{
		{"", []int64{seq[6], seq[5], seq[4], seq[3], seq[2], seq[1], seq[0]}, false},
		{"?limit=3", []int64{seq[6], seq[5], seq[4]}, true},
		{fmt.Sprintf("?before=%d&limit=3", seq[4]), []int64{seq[3], seq[2], seq[1]}, true},
		{fmt.Sprintf("?limit=3&before=%d", seq[1]), []int64{seq[0]}, false},
		{"?before=1", []int64{}, false},
		{"?after=0&limit=3", []int64{seq[0], seq[1], seq[2]}, true},
		{fmt.Sprintf("?after=%d&limit=3", seq[2]), []int64{seq[3], seq[4], seq[5]}, true},
		{fmt.Sprintf("?after=%d&limit=3", seq[5]), []int64{seq[6]}, false},
		{fmt.Sprintf("?after=%d", head), []int64{}, false},
		{"?limit=1", []int64{seq[6]}, true},
		{"?limit=100", []int64{seq[6], seq[5], seq[4], seq[3], seq[2], seq[1], seq[0]}, false},
	}
	for _, c := range cases {
		r := carol.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/messages"+c.query, nil, nil)
		var p api.HistoryPage
		r.JSON(t, &p)
		if got := coreSeqs(p.Messages); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%q: got seqs %v, want %v", c.query, got, c.want)
		}
		if p.HasMore != c.more || p.HeadSeq != head {
			t.Errorf("%q: got has_more %v head_seq %d, want %v and %d", c.query, p.HasMore, p.HeadSeq, c.more, head)
		}
		if len(c.want) == 0 && !strings.Contains(string(r.Body), `"messages":[]`) {
			t.Errorf("%q: got body %s, want an empty messages array", c.query, r.Body)
		}
	}
}

// A message its sender deletes keeps its place as a tombstone, everywhere.
func TestCoreDeletedMessageIsTombstone(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	before := bob.Send(room, "before")
	gone := bob.Send(room, "my secret words")
	after := bob.Send(room, "after")
	path := "/api/v1/rooms/" + room + "/messages/" + gone.ID
	bob.Must(http.StatusNoContent, "DELETE", path, nil, nil)
	bob.Must(http.StatusNoContent, "DELETE", path, nil, nil) // idempotent

	var one api.RoomMessage
	alice.Must(http.StatusOK, "GET", path, nil, &one)
	if !one.IsDeleted || one.Content != "" || one.Seq != gone.Seq {
		t.Fatalf("GET deleted: got is_deleted %v content %q seq %d, want true, \"\", %d", one.IsDeleted, one.Content, one.Seq, gone.Seq)
	}
	p := alice.History(room, "")
	if got := coreSeqs(p.Messages); fmt.Sprint(got) != fmt.Sprint([]int64{after.Seq, gone.Seq, before.Seq}) {
		t.Fatalf("history seqs: got %v, want the tombstone in its place", got)
	}
	if m := p.Messages[1]; !m.IsDeleted || m.Content != "" {
		t.Fatalf("history tombstone: got is_deleted %v content %q, want true and \"\"", m.IsDeleted, m.Content)
	}
	coreProblem(t, bob.Do("PATCH", path, map[string]string{"content": "edit"}), http.StatusNotFound, "not_found")
}
