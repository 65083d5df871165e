package tests

import (
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

func pinPath(room string) string { return "/api/v1/rooms/" + room + "/pin" }

// pin pins msgID as c and returns the room it answers with.
func pin(c *Client, room, msgID string) api.Room {
	c.t.Helper()
	var r api.Room
	c.Must(http.StatusOK, "PUT", pinPath(room), map[string]string{"message_id": msgID}, &r)
	return r
}

// pinnedID is the id of the room's pinned message, "" for none.
func pinnedID(r api.Room) string {
	if r.Pinned == nil {
		return ""
	}
	return r.Pinned.ID
}

// getRoom reads the room as c.
func getRoom(c *Client, room string) api.Room {
	c.t.Helper()
	var r api.Room
	c.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room, nil, &r)
	return r
}

// pinnedData decodes a room.pinned event, checking that it is a room event
// whose id line and envelope agree.
func pinnedData(t testing.TB, ev Event) api.RoomPinnedData {
	t.Helper()
	d, seq := envelope[api.RoomPinnedData](t, ev)
	if ev.Type != "room.pinned" || seq == 0 || ev.ID != strconv.FormatInt(seq, 10) {
		t.Fatalf("got %s (id %q, envelope seq %d), want a room.pinned room event", ev.Type, ev.ID, seq)
	}
	return d
}

// nextPinned skips other room events up to the next room.pinned.
func nextPinned(t testing.TB, st *Stream, timeout time.Duration) api.RoomPinnedData {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("no room.pinned within %s", timeout)
		}
		if ev := st.NextRoomEvent(left); ev.Type == "room.pinned" {
			return pinnedData(t, ev)
		}
	}
}

// wantPinned fails unless d pins msgID (none for "") by by.
func wantPinned(t testing.TB, d api.RoomPinnedData, msgID, by string) {
	t.Helper()
	got := ""
	if d.Message != nil {
		got = d.Message.ID
	}
	if got != msgID || d.By != by {
		t.Fatalf("room.pinned: got message %q by %q, want %q by %q", got, d.By, msgID, by)
	}
}

// TestPins walks pinning on each database: pin, the same pin again (the same
// answer, no event), the pinned message in every Room answer and as it is now
// (edited, reacted to), replace, unpin (idempotent), and who may: a
// participant is forbidden, an outsider not a participant, a banned or muted
// moderator refused, an admin allowed without joining; bad bodies are 400 and
// messages that cannot be pinned 404.
func TestPins(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s *Server) {
		alice, bob, carol, dave := s.Client(t, "alice"), s.Client(t, "bob"), s.Client(t, "carol"), s.Client(t, "dave")
		room := coreRoom(t, alice, bob, carol, dave)
		alice.Must(http.StatusOK, "PUT", "/api/v1/rooms/"+room+"/participants/bob/role", map[string]string{"role": "moderator"}, nil)
		first, second := carol.Send(room, "first"), bob.Send(room, "second")
		if r := getRoom(carol, room); r.Pinned != nil {
			t.Fatalf("a new room's pinned: got %+v, want null", r.Pinned)
		}
		st := dave.Stream(room, "Last-Event-ID", fmt.Sprint(second.Seq))

		r := pin(bob, room, first.ID)
		if r.Pinned == nil || r.Pinned.ID != first.ID || r.Pinned.Content != "first" || r.ID != room {
			t.Fatalf("pin: got room %s pinned %+v, want %s pinning %q", r.ID, r.Pinned, room, "first")
		}
		if d := nextPinned(t, st, 5*time.Second); d.Message == nil || d.Message.Content != "first" {
			t.Fatalf("room.pinned: got %+v, want the message", d)
		} else {
			wantPinned(t, d, first.ID, "bob")
		}
		if again := pin(bob, room, first.ID); !reflect.DeepEqual(again, r) {
			t.Fatalf("the same pin again: got %+v, want %+v", again, r)
		}

		// Room.pinned is the message as it is now, everywhere a Room is
		// answered: edits and reactions (me for the caller) included.
		react(dave, room, first.ID, "👍")
		carol.Must(http.StatusOK, "PATCH", "/api/v1/rooms/"+room+"/messages/"+first.ID, map[string]string{"content": "first, edited"}, nil)
		yes, no := true, false
		got := getRoom(dave, room)
		if got.Pinned == nil || got.Pinned.Content != "first, edited" ||
			!reflect.DeepEqual(got.Pinned.Reactions, []api.Reaction{{Emoji: "👍", Count: 1, Me: &yes}}) {
			t.Fatalf("GET room as dave: pinned %+v, want the edited text and dave's 👍", got.Pinned)
		}
		var chat, owned api.Room
		bob.Must(http.StatusOK, "PATCH", "/api/v1/rooms/"+room+"/chat", map[string]int{"slow_mode_seconds": 0}, &chat)
		alice.Must(http.StatusOK, "POST", "/api/v1/rooms", map[string]string{"id": room, "name": "again"}, &owned)
		for what, r := range map[string]api.Room{"PATCH chat": chat, "POST rooms (owned)": owned} {
			if r.Pinned == nil || r.Pinned.Content != "first, edited" ||
				!reflect.DeepEqual(r.Pinned.Reactions, []api.Reaction{{Emoji: "👍", Count: 1, Me: &no}}) {
				t.Fatalf("%s: pinned %+v, want the edited message with its reaction", what, r.Pinned)
			}
		}

		// Replacing is a plain PUT; the repeated pin above sent nothing.
		if r := pin(alice, room, second.ID); pinnedID(r) != second.ID {
			t.Fatalf("replace: pinned %q, want %q", pinnedID(r), second.ID)
		}
		wantPinned(t, nextPinned(t, st, 5*time.Second), second.ID, "alice")

		// Unpin, twice: 204 both times, one event.
		for range 2 {
			bob.Must(http.StatusNoContent, "DELETE", pinPath(room), nil, nil)
		}
		wantPinned(t, nextPinned(t, st, 5*time.Second), "", "bob")
		if r := getRoom(carol, room); r.Pinned != nil {
			t.Fatalf("after unpin: pinned %+v, want null", r.Pinned)
		}
		pin(bob, room, first.ID)
		wantPinned(t, nextPinned(t, st, 5*time.Second), first.ID, "bob")

		// Who may.
		body := map[string]string{"message_id": second.ID}
		coreProblem(t, carol.Do("PUT", pinPath(room), body), http.StatusForbidden, "forbidden")
		coreProblem(t, carol.Do("DELETE", pinPath(room), nil), http.StatusForbidden, "forbidden")
		coreProblem(t, s.Client(t, "eve").Do("PUT", pinPath(room), body), http.StatusForbidden, "not_participant")
		admin := s.Admin(t, "root")
		if r := pin(admin, room, second.ID); pinnedID(r) != second.ID {
			t.Fatalf("admin's pin: pinned %q, want %q", pinnedID(r), second.ID)
		}

		// Bad bodies, and messages that cannot be pinned.
		for _, bad := range []any{`{}`, `{"message_id":""}`, `{"message_id":5}`, `"` + first.ID + `"`, `{"message_id":"` + first.ID + `","x":1}`,
			`{"message_id":`, `{"message_id":"a\u0001b"}`, `{"message_id":"` + strings.Repeat("a", 65) + `"}`} {
			coreProblem(t, bob.Do("PUT", pinPath(room), bad), http.StatusBadRequest, "invalid")
		}
		other := coreRoom(t, bob)
		elsewhere := bob.Send(other, "another room's")
		deleted := carol.Send(room, "deleted")
		carol.Must(http.StatusNoContent, "DELETE", "/api/v1/rooms/"+room+"/messages/"+deleted.ID, nil, nil)
		for _, id := range []string{"nosuchmessage", elsewhere.ID, deleted.ID} {
			coreProblem(t, bob.Do("PUT", pinPath(room), map[string]string{"message_id": id}), http.StatusNotFound, "not_found")
		}
		coreProblem(t, bob.Do("PUT", pinPath("no-such-room"), body), http.StatusNotFound, "not_found")

		// A muted moderator may not pin; a banned user hears banned.
		alice.Must(http.StatusOK, "PUT", "/api/v1/rooms/"+room+"/mutes/bob", map[string]int{"duration_seconds": 60}, nil)
		coreProblem(t, bob.Do("PUT", pinPath(room), body), http.StatusForbidden, "muted")
		coreProblem(t, bob.Do("DELETE", pinPath(room), nil), http.StatusForbidden, "muted")
		alice.Must(http.StatusOK, "PUT", "/api/v1/rooms/"+room+"/bans/dave", map[string]any{}, nil)
		coreProblem(t, dave.Do("PUT", pinPath(room), body), http.StatusForbidden, "banned")
		if r := getRoom(alice, room); pinnedID(r) != second.ID {
			t.Fatalf("after the refusals: pinned %q, want %q", pinnedID(r), second.ID)
		}
	})
}

// TestPinnedMessageDeleted: deleting the pinned message unpins it, with
// message.deleted then room.pinned null, one seq apart; a full replay
// never serves its text, not even in the room.pinned that carried it.
func TestPinnedMessageDeleted(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s *Server) {
		alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
		room := coreRoom(t, alice, bob)
		const secret = "the pinned launch code"
		m := bob.Send(room, secret)
		st := alice.Stream(room, "Last-Event-ID", fmt.Sprint(m.Seq))
		pin(alice, room, m.ID)
		wantPinned(t, nextPinned(t, st, 5*time.Second), m.ID, "alice")

		alice.Must(http.StatusNoContent, "DELETE", "/api/v1/rooms/"+room+"/messages/"+m.ID, nil, nil)
		evs := st.Collect(2, 5*time.Second)
		if evs[0].Type != "message.deleted" || evs[1].Type != "room.pinned" {
			t.Fatalf("on delete: got %s, %s; want message.deleted, room.pinned", evs[0].Type, evs[1].Type)
		}
		if a, b := evs[0].Envelope(t).Seq, evs[1].Envelope(t).Seq; b != a+1 {
			t.Fatalf("seqs %d, %d: want consecutive (one transaction)", a, b)
		}
		wantPinned(t, pinnedData(t, evs[1]), "", "alice")
		if r := getRoom(bob, room); r.Pinned != nil {
			t.Fatalf("after delete: pinned %+v, want null", r.Pinned)
		}

		head := alice.History(room, "?limit=1").HeadSeq
		replay := alice.Stream(room, "Last-Event-ID", "0")
		for seq := int64(1); seq <= head; seq++ {
			ev := replay.NextRoomEvent(5 * time.Second)
			if strings.Contains(ev.Data, "launch code") {
				t.Fatalf("replayed %s (id %s): %s; want the deleted text gone", ev.Type, ev.ID, ev.Data)
			}
			if ev.Type == "room.pinned" {
				if d := pinnedData(t, ev); d.Message != nil && (!d.Message.IsDeleted || d.By != "alice") {
					t.Fatalf("replayed pin: got %+v, want the tombstone, by alice", d)
				}
			}
		}
	})
}

// TestPinKeptPastRetention: with a history of 3, a pinned message outlives
// retention (out of history, still in Room.pinned and by id) until it is
// replaced or unpinned, when it goes as retention says.
func TestPinKeptPastRetention(t *testing.T) {
	onEachDatabaseWith(t, Options{HistoryLimit: 3}, func(t *testing.T, s *Server) {
		alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
		room := coreRoom(t, alice, bob)
		kept, later := bob.Send(room, "keep me"), bob.Send(room, "keep me too")
		pin(alice, room, kept.ID)
		gone := bob.Send(room, "not pinned")
		for _, text := range coreTexts("r", 4) {
			bob.Send(room, text)
		}
		// PostgreSQL prunes within the second.
		waitFor(t, 5*time.Second, "retention", func() bool {
			return alice.Do("GET", "/api/v1/rooms/"+room+"/messages/"+gone.ID, nil).Status == http.StatusNotFound
		})
		h := alice.History(room, "?limit=100")
		if len(h.Messages) != 3 || h.Messages[2].Seq <= gone.Seq {
			t.Fatalf("history: got %d messages from seq %d, want the 3 newest", len(h.Messages), h.Messages[len(h.Messages)-1].Seq)
		}
		if r := getRoom(bob, room); r.Pinned == nil || r.Pinned.ID != kept.ID || r.Pinned.Content != "keep me" {
			t.Fatalf("pinned past retention: got %+v, want %q", r.Pinned, "keep me")
		}
		var one api.RoomMessage
		bob.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/messages/"+kept.ID, nil, &one)
		coreProblem(t, bob.Do("GET", "/api/v1/rooms/"+room+"/messages/"+later.ID, nil), http.StatusNotFound, "not_found")

		// Replaced, it goes; so does the next one when unpinned.
		pin(alice, room, h.Messages[0].ID)
		coreProblem(t, bob.Do("GET", "/api/v1/rooms/"+room+"/messages/"+kept.ID, nil), http.StatusNotFound, "not_found")
		for _, text := range coreTexts("s", 4) {
			bob.Send(room, text)
		}
		waitFor(t, 5*time.Second, "retention", func() bool {
			return len(alice.History(room, "?limit=100").Messages) == 3 &&
				alice.History(room, "?limit=100").Messages[2].Seq > h.Messages[0].Seq
		})
		bob.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/messages/"+h.Messages[0].ID, nil, nil)
		alice.Must(http.StatusNoContent, "DELETE", pinPath(room), nil, nil)
		coreProblem(t, bob.Do("GET", "/api/v1/rooms/"+room+"/messages/"+h.Messages[0].ID, nil), http.StatusNotFound, "not_found")
	})
}

// TestPinReplayAndClose: room.pinned is a room event: a stream resuming from
// before it gets it, also after a restart; closing the room takes the pin
// with it, so a new room with the same id has none.
func TestPinReplayAndClose(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	m := bob.Send(room, "pin me")
	pin(alice, room, m.ID)
	bob.Send(room, "after the pin")
	for _, restart := range []bool{false, true} {
		if restart {
			s.Restart(t, Options{})
		}
		st := bob.Stream(room, "Last-Event-ID", fmt.Sprint(m.Seq))
		ev := st.NextRoomEvent(5 * time.Second)
		if ev.ID != fmt.Sprint(m.Seq+1) {
			t.Fatalf("resume (restart %v): got %s id %s, want room.pinned id %d", restart, ev.Type, ev.ID, m.Seq+1)
		}
		wantPinned(t, pinnedData(t, ev), m.ID, "alice")
		if next := st.NextRoomEvent(5 * time.Second); next.Type != "message.created" {
			t.Fatalf("after the pin: got %s, want message.created", next.Type)
		}
		st.Close()
	}
	alice.Must(http.StatusNoContent, "DELETE", "/api/v1/rooms/"+room, nil, nil)
	if r := alice.CreateRoom(room); r.Pinned != nil {
		t.Fatalf("a room reopened with a closed one's id: pinned %+v, want null", r.Pinned)
	}
}

// TestPinRacesRetention: pins of the oldest retained message while sends
// prune the room keep their message, on each database: on PostgreSQL the
// prune runs apart from the sends and may wait on the pin's lock of the
// room (see prunePostgres). A pin either finds its message gone (404) or
// keeps it: Room.pinned is never left empty.
func TestPinRacesRetention(t *testing.T) {
	onEachDatabaseWith(t, Options{HistoryLimit: 3}, func(t *testing.T, s *Server) {
		alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
		room := coreRoom(t, alice, bob)
		for _, text := range coreTexts("m", 3) {
			bob.Send(room, text)
		}
		stop, done := make(chan struct{}), make(chan error, 1)
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				if code, body, err := corePost(s, bob.Token, room, map[string]string{"content": fmt.Sprint("s", i)}); err != nil || code != http.StatusCreated {
					done <- fmt.Errorf("send: %d %s %v", code, body, err)
					return
				}
			}
		}()
		pinned, pins := "", 0
		for range 40 {
			if got := pinnedID(getRoom(alice, room)); got != pinned {
				close(stop)
				t.Fatalf("after pinning %q: Room.pinned is %q", pinned, got)
			}
			h := alice.History(room, "?limit=3")
			oldest := h.Messages[len(h.Messages)-1].ID
			switch r := alice.Do("PUT", pinPath(room), map[string]string{"message_id": oldest}); r.Status {
			case http.StatusOK:
				pinned, pins = oldest, pins+1
			case http.StatusNotFound: // pruned before the pin
			default:
				close(stop)
				t.Fatalf("pin: %d %s", r.Status, r.Body)
			}
		}
		close(stop)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := pinnedID(getRoom(alice, room)); got != pinned || pins == 0 {
			t.Fatalf("at the end: Room.pinned %q after %d pins, want %q", got, pins, pinned)
		}
		alice.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/messages/"+pinned, nil, nil)
		t.Logf("%d of 40 pins found their message", pins)
	})
}
