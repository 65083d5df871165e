package tests

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// TestIdempotentRetryAfterEdit: a retried send is compared with what was
// first sent, not with the message as edited since: the retry gets the
// message (200) and nothing new is broadcast; other content under the same
// client_id, the edited text included, is still a conflict. On both databases.
func TestIdempotentRetryAfterEdit(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, func(t *testing.T, s *Server) {
		alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
		room := coreRoom(t, alice, bob)
		path := "/api/v1/rooms/" + room + "/messages"
		sent := map[string]string{"content": "  orig\r\n", "client_id": "c2"}
		var first, edited, again api.RoomMessage
		bob.Must(http.StatusCreated, "POST", path, sent, &first)
		st := alice.Stream(room, "Last-Event-ID", strconv.FormatInt(first.Seq, 10))
		bob.Must(http.StatusOK, "PATCH", path+"/"+first.ID, map[string]string{"content": "edited"}, &edited)

		bob.Must(http.StatusOK, "POST", path, sent, &again)
		if again.ID != first.ID || again.Seq != first.Seq || again.Content != "edited" || again.EditedAt == nil {
			t.Fatalf("retry after an edit: got %s seq %d %q edited %v, want the message %s seq %d as it is now",
				again.ID, again.Seq, again.Content, again.EditedAt, first.ID, first.Seq)
		}
		for _, other := range []string{"edited", "something else"} {
			coreProblem(t, bob.Do("POST", path, map[string]string{"content": other, "client_id": "c2"}), http.StatusConflict, "conflict")
		}
		// A second edit keeps what was first sent.
		bob.Must(http.StatusOK, "PATCH", path+"/"+first.ID, map[string]string{"content": "edited twice"}, nil)
		bob.Must(http.StatusOK, "POST", path, map[string]string{"content": "orig", "client_id": "c2"}, &again)
		if again.ID != first.ID || again.Content != "edited twice" {
			t.Fatalf("retry after two edits: got %s %q, want %s as it is now", again.ID, again.Content, first.ID)
		}

		// After the send, the stream saw the two edits, and no retry.
		for _, ev := range st.Collect(2, 5*time.Second) {
			if ev.Type != "message.updated" {
				t.Fatalf("after the send: got %s %s, want the two edits", ev.Type, ev.Data)
			}
		}
		alice.Send(room, "after")
		if ev := st.NextRoomEvent(5 * time.Second); ev.Type != "message.created" || coreMessage(t, ev).Content != "after" {
			t.Fatalf("after the edits: got %s %s, want alice's message and no retry broadcast", ev.Type, ev.Data)
		}
		if n := len(bob.History(room, "").Messages); n != 2 {
			t.Fatalf("history: %d messages, want 2", n)
		}
	})
}
