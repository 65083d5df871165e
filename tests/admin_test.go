package tests

import (
	"net/http"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// TestAdminNeitherBannedNorKicked: a platform admin streaming a room without
// joining it cannot be banned, kicked or muted by its moderator or owner
// (403 forbidden), and their stream goes on.
func TestAdminNeitherBannedNorKicked(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob, root := s.Client(t, "alice"), s.Client(t, "bob"), s.Admin(t, "root")
	room := coreRoom(t, alice, bob)
	base := "/api/v1/rooms/" + room
	alice.Must(http.StatusOK, "PUT", base+"/participants/bob/role", map[string]string{"role": "moderator"}, nil)

	st := root.Stream(room)
	if st.Status != http.StatusOK {
		t.Fatalf("an admin's stream of a room not joined: got %d, want 200", st.Status)
	}
	for _, c := range []*Client{bob, alice} { // the moderator, then the owner
		coreProblem(t, c.Do("PUT", base+"/bans/root", map[string]any{"reason": "no"}), http.StatusForbidden, "forbidden")
		coreProblem(t, c.Do("PUT", base+"/mutes/root", map[string]any{"duration_seconds": 60}), http.StatusForbidden, "forbidden")
		coreProblem(t, c.Do("DELETE", base+"/participants/root", nil), http.StatusForbidden, "forbidden")
	}
	var bans struct{ Bans []api.Ban }
	bob.Must(http.StatusOK, "GET", base+"/bans", nil, &bans)
	if len(bans.Bans) != 0 {
		t.Fatalf("bans: got %+v, want none", bans.Bans)
	}
	m := alice.Send(room, "still listening?")
	if ev := st.NextRoomEvent(5 * time.Second); ev.Type != "message.created" || coreMessage(t, ev).ID != m.ID {
		t.Fatalf("the admin's stream: got %s %s, want alice's message", ev.Type, ev.Data)
	}

	// Joined, the admin is no more bannable; and may post.
	root.Join(room)
	coreProblem(t, bob.Do("PUT", base+"/bans/root", map[string]any{}), http.StatusForbidden, "forbidden")
	root.Send(room, "hello from an admin")

	// A ban on a user nobody has seen as an admin yet is a ban; it refuses
	// nothing to them once they come as one, and then none can follow.
	alice.Must(http.StatusOK, "PUT", base+"/bans/ops", map[string]any{}, nil)
	ops := s.Admin(t, "ops")
	opsSt := ops.Stream(room)
	if opsSt.Status != http.StatusOK {
		t.Fatalf("an admin banned before the server knew them: stream got %d, want 200", opsSt.Status)
	}
	ops.Join(room)
	coreProblem(t, alice.Do("PUT", base+"/bans/ops", map[string]any{}), http.StatusForbidden, "forbidden")
	coreProblem(t, bob.Do("DELETE", base+"/participants/ops", nil), http.StatusForbidden, "forbidden")
	if opsSt.Ended(300 * time.Millisecond) {
		t.Fatal("the admin's stream ended")
	}
}
