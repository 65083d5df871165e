package tests

import (
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// TestModerationBan shows a ban end to end: the user's stream hears
// user.banned and ends, every call on the room is 403 banned (with until for a
// temporary ban) but GET /me, a user who never joined can be banned, GET bans
// lists the active ones, and an unban lets the user back in.
func TestModerationBan(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	path, cs := modRoom(t, s, "bob")
	room, bob := modRoomID(path), cs["bob"]
	msg := bob.Send(room, "hello")
	head := modI(msg.Seq)
	bobStream, ownerStream := bob.Stream(room, "Last-Event-ID", head), cs["owner"].Stream(room, "Last-Event-ID", head)

	var ban api.Ban
	cs["mod"].Must(200, "PUT", path+"/bans/bob", map[string]any{"duration_seconds": 3600, "reason": "spam"}, &ban)
	if ban.UserID != "bob" || ban.By != "mod" || ban.Until == nil || ban.Reason == nil || *ban.Reason != "spam" {
		t.Fatalf("got ban %+v, want bob by mod for an hour, reason spam", ban)
	}
	ev := bobStream.NextRoomEvent(2 * time.Second)
	var banned api.UserMutedData
	if modData(t, ev, &banned); ev.Type != "user.banned" || banned.UserID != "bob" || banned.By != "mod" || banned.Until == nil || *banned.Until != *ban.Until {
		t.Fatalf("bob's stream got %s %s, want user.banned with until %s", ev.Type, ev.Data, *ban.Until)
	}
	if !bobStream.Ended(2 * time.Second) {
		t.Fatalf("bob's stream is still open 2 s after the ban, want it ended")
	}
	evs := modUntilEvent(t, ownerStream, "participant.left")
	var left api.ParticipantLeftData
	if modData(t, evs[len(evs)-1], &left); len(evs) != 2 || evs[0].Type != "user.banned" || left.UserID != "bob" || left.Reason != "banned" {
		t.Fatalf("owner's stream got %v, want user.banned then participant.left bob banned", evs)
	}

	calls := []struct{ name, method, path string }{
		{"join", "POST", "/participants"},
		{"send", "POST", "/messages"},
		{"history", "GET", "/messages"},
		{"get message", "GET", "/messages/" + msg.ID},
		{"get room", "GET", ""},
		{"participants", "GET", "/participants"},
		{"stream ticket", "POST", "/stream-ticket"},
	}
	for _, c := range calls {
		var body any
		if c.name == "send" {
			body = map[string]string{"content": "let me back"}
		}
		r := bob.Do(c.method, path+c.path, body)
		if p := modProblem(t, r, 403, "banned"); p.Until == nil || *p.Until != *ban.Until || modRetryAfter(t, r) < 3500 {
			t.Fatalf("%s: got until %v Retry-After %s, want %s and about an hour", c.name, p.Until, r.Header.Get("Retry-After"), *ban.Until)
		}
	}
	for _, resume := range [][]string{nil, {"Last-Event-ID", head}, {"?last_event_id=" + head}} {
		st := bob.Stream(room, resume...)
		if st.Status != 403 || st.Problem == nil || st.Problem.Code != "banned" || st.Problem.Until == nil {
			t.Fatalf("stream %v: got %d %+v, want 403 banned with until", resume, st.Status, st.Problem)
		}
	}
	if me := modMe(bob, path); me.Role != nil || me.CanPost || me.Reason == nil || *me.Reason != "banned" ||
		me.BannedUntil == nil || *me.BannedUntil != *ban.Until || me.RetryAfterSeconds < 3500 {
		t.Fatalf("got me %+v, want role null, reason banned, banned_until %s", me, *ban.Until)
	}

	// A user who never joined: permanent, so no until anywhere.
	carol := s.Client(t, "carol")
	cs["mod"].Must(200, "PUT", path+"/bans/carol", map[string]any{}, &ban)
	if ban.Until != nil {
		t.Fatalf("got until %s for a ban without duration, want null", *ban.Until)
	}
	if p := modProblem(t, carol.Do("POST", path+"/participants", nil), 403, "banned"); p.Until != nil {
		t.Fatalf("got until %s for a permanent ban, want none", *p.Until)
	}
	if me := modMe(carol, path); *me.Reason != "banned" || me.BannedUntil != nil {
		t.Fatalf("got me %+v, want reason banned and banned_until null", me)
	}
	// A ban that runs out drops off the list by itself, and lets the user in.
	cs["mod"].Must(200, "PUT", path+"/bans/dave", map[string]any{"duration_seconds": 1}, nil)
	if got := modBanned(t, cs["mod"], path); len(got) != 3 || !got["bob"] || !got["carol"] || !got["dave"] {
		t.Fatalf("got bans %v, want bob, carol and dave", got)
	}
	waitFor(t, 3*time.Second, "dave's ban to run out", func() bool { return !modBanned(t, cs["mod"], path)["dave"] })
	s.Client(t, "dave").Join(room)

	cs["mod"].Must(204, "DELETE", path+"/bans/bob", nil, nil)
	evs = modUntilEvent(t, ownerStream, "user.unbanned")
	var unbanned api.UserUnmutedData
	if modData(t, evs[len(evs)-1], &unbanned); unbanned.UserID != "bob" || unbanned.By != "mod" {
		t.Fatalf("got user.unbanned %+v, want bob by mod", unbanned)
	}
	bob.Must(201, "POST", path+"/participants", nil, nil)
	bob.Send(room, "back again")
	if got := modBanned(t, cs["mod"], path); len(got) != 1 || !got["carol"] {
		t.Fatalf("got bans %v after the unban, want carol only", got)
	}
	for _, d := range []any{0, -1, 365*24*3600 + 1, "60"} {
		modProblem(t, cs["mod"].Do("PUT", path+"/bans/erin", map[string]any{"duration_seconds": d}), 400, "invalid")
	}
}

// modBanned lists the room's active bans by user.
func modBanned(t *testing.T, c *Client, path string) map[string]bool {
	t.Helper()
	var list api.BanList
	c.Must(200, "GET", path+"/bans", nil, &list)
	out := map[string]bool{}
	for _, b := range list.Bans {
		out[b.UserID] = true
	}
	return out
}

// TestModerationKick shows a kick: the user's stream ends, the others hear
// participant.left with reason kicked, and the user may rejoin.
func TestModerationKick(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	path, cs := modRoom(t, s, "bob", "carol")
	room := modRoomID(path)
	head := modI(cs["owner"].History(room, "").HeadSeq)
	bobStream, carolStream := cs["bob"].Stream(room, "Last-Event-ID", head), cs["carol"].Stream(room, "Last-Event-ID", head)

	cs["mod"].Must(204, "DELETE", path+"/participants/bob", nil, nil)
	if !bobStream.Ended(2 * time.Second) {
		t.Fatalf("bob's stream is still open 2 s after the kick, want it ended")
	}
	ev := carolStream.NextRoomEvent(2 * time.Second)
	var left api.ParticipantLeftData
	if modData(t, ev, &left); ev.Type != "participant.left" || left.UserID != "bob" || left.Reason != "kicked" {
		t.Fatalf("carol got %s %s, want participant.left bob kicked", ev.Type, ev.Data)
	}
	modProblem(t, cs["bob"].Do("POST", path+"/messages", map[string]string{"content": "hey"}), 403, "not_participant")
	modProblem(t, cs["mod"].Do("DELETE", path+"/participants/bob", nil), 404, "not_found")
	cs["bob"].Must(201, "POST", path+"/participants", nil, nil)
	cs["bob"].Send(room, "I am back")

	cs["carol"].Must(204, "DELETE", path+"/participants/carol", nil, nil)
	if !carolStream.Ended(2 * time.Second) {
		t.Fatalf("carol's stream is still open 2 s after she left, want it ended")
	}
	evs := modUntilEvent(t, cs["owner"].Stream(room, "Last-Event-ID", head), "participant.left")
	if modData(t, evs[len(evs)-1], &left); left.Reason != "kicked" {
		t.Fatalf("got reason %q for the kick in the replay, want kicked", left.Reason)
	}
}

// TestModerationRoomClose shows closing a room: every stream hears room.closed
// and ends, later calls are 404, and the id can start an empty room whose seq
// continues above the old one's.
func TestModerationRoomClose(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	path, cs := modRoom(t, s, "bob")
	room := modRoomID(path)
	cs["bob"].Send(room, "one")
	head := modI(cs["bob"].Send(room, "two").Seq)
	streams := map[string]*Stream{}
	for _, u := range []string{"owner", "mod", "bob", "admin"} {
		streams[u] = cs[u].Stream(room, "Last-Event-ID", head)
	}
	cs["owner"].Must(204, "DELETE", path, nil, nil)
	var closedSeq int64
	for u, st := range streams {
		ev := st.NextRoomEvent(2 * time.Second)
		var by api.RoomClosedData
		if modData(t, ev, &by); ev.Type != "room.closed" || by.By != "owner" {
			t.Fatalf("%s got %s %s, want room.closed by owner", u, ev.Type, ev.Data)
		}
		closedSeq = modSeq(t, ev)
		if !st.Ended(2 * time.Second) {
			t.Fatalf("%s's stream is open 2 s after room.closed, want it ended", u)
		}
	}
	for _, c := range []struct{ method, path string }{
		{"GET", ""}, {"GET", "/me"}, {"DELETE", ""}, {"POST", "/participants"}, {"GET", "/messages"}, {"GET", "/moderation-log"},
	} {
		modProblem(t, cs["owner"].Do(c.method, path+c.path, nil), 404, "not_found")
	}
	modProblem(t, cs["bob"].Do("POST", path+"/messages", map[string]string{"content": "hello?"}), 404, "not_found")
	if st := cs["bob"].Stream(room); st.Status != 404 {
		t.Fatalf("stream of a closed room: got %d, want 404", st.Status)
	}

	again := cs["bob"].CreateRoom(room)
	if again.OwnerID != "bob" || again.ParticipantCount != 1 {
		t.Fatalf("got re-created room %+v, want owner bob and one participant", again)
	}
	if page := cs["bob"].History(room, ""); len(page.Messages) != 0 || page.HeadSeq <= closedSeq {
		t.Fatalf("got %d messages and head %d in the new room, want none and a head above %d", len(page.Messages), page.HeadSeq, closedSeq)
	}
	if m := cs["bob"].Send(room, "fresh start"); m.Seq <= closedSeq {
		t.Fatalf("got seq %d in the new room, want above the old room's %d", m.Seq, closedSeq)
	}
	modProblem(t, cs["mod"].Do("GET", path+"/messages", nil), 403, "not_participant")
}
