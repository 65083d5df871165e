package tests

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// TestModerationChatLock shows a room-wide lock: participants get 403
// chat_locked with until, moderators still post, the lock runs out by itself,
// locked_until null lifts it, and each change is a room.chat_updated event.
func TestModerationChatLock(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	path, cs := modRoom(t, s, "bob")
	room, bob := modRoomID(path), cs["bob"]
	msg := bob.Send(room, "before the lock")
	st := cs["owner"].Stream(room, "Last-Event-ID", modI(msg.Seq))

	lock := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	var got api.Room
	cs["mod"].Must(200, "PATCH", path+"/chat", map[string]any{"locked_until": lock}, &got)
	until := modTime(t, got.Chat.LockedUntil)
	if want := modTime(t, &lock); !until.Equal(want.Truncate(time.Microsecond)) {
		t.Fatalf("got locked_until %s, want %s", until, lock)
	}
	ev := st.NextRoomEvent(2 * time.Second)
	var chat api.ChatUpdatedData
	if modData(t, ev, &chat); ev.Type != "room.chat_updated" || chat.By != "mod" || chat.LockedUntil == nil || *chat.LockedUntil != *got.Chat.LockedUntil {
		t.Fatalf("got %s %s, want room.chat_updated by mod locked until %s", ev.Type, ev.Data, *got.Chat.LockedUntil)
	}
	for _, r := range []*Response{
		bob.Do("POST", path+"/messages", map[string]string{"content": "locked?"}),
		bob.Do("PATCH", path+"/messages/"+msg.ID, map[string]string{"content": "edit while locked"}),
	} {
		if p := modProblem(t, r, 403, "chat_locked"); p.Until == nil || *p.Until != *got.Chat.LockedUntil {
			t.Fatalf("got until %v, want %s", p.Until, *got.Chat.LockedUntil)
		}
		modRetryAfter(t, r)
	}
	if me := modMe(bob, path); me.CanPost || *me.Reason != "chat_locked" || me.LockedUntil == nil || *me.LockedUntil != *got.Chat.LockedUntil {
		t.Fatalf("got me %+v, want reason chat_locked and locked_until", me)
	}
	cs["mod"].Send(room, "moderators may speak")
	cs["owner"].Send(room, "owners too")
	cs["admin"].Send(room, "and admins")
	// Waiting out a 1.5 s lock is the point of this step.
	waitFor(t, 3*time.Second, "the lock to run out", func() bool { return modMe(bob, path).CanPost })
	bob.Send(room, "unlocked by time")
	cs["mod"].Must(200, "GET", path, nil, &got)
	if got.Chat.LockedUntil != nil {
		t.Fatalf("got locked_until %s after it passed, want null", *got.Chat.LockedUntil)
	}

	cs["mod"].Must(200, "PATCH", path+"/chat", map[string]any{"locked_until": time.Now().Add(time.Hour).Format(time.RFC3339)}, nil)
	modProblem(t, bob.Do("POST", path+"/messages", map[string]string{"content": "locked again"}), 403, "chat_locked")
	cs["mod"].Must(200, "PATCH", path+"/chat", map[string]any{"locked_until": nil}, &got)
	if got.Chat.LockedUntil != nil {
		t.Fatalf("got locked_until %s after null, want null", *got.Chat.LockedUntil)
	}
	bob.Send(room, "unlocked by hand")
	// The lock that ran out by itself sent no event: only the posts lie
	// between it and the hour-long lock.
	for _, ev := range modUntilEvent(t, st, "room.chat_updated") {
		if ev.Type != "message.created" && ev.Type != "room.chat_updated" {
			t.Fatalf("got %s between the two locks, want only message.created", ev.Type)
		}
	}
	evs := modUntilEvent(t, st, "room.chat_updated")
	if modData(t, evs[len(evs)-1], &chat); chat.LockedUntil != nil {
		t.Fatalf("got room.chat_updated %s, want locked_until null", evs[len(evs)-1].Data)
	}

	for _, body := range []map[string]any{
		{"locked_until": "in an hour"}, {"locked_until": 12}, {"slow_mode_seconds": 3601}, {"slow_mode_seconds": -1},
		{"locked_until": time.Now().AddDate(2, 0, 0).Format(time.RFC3339)},
	} {
		modProblem(t, cs["mod"].Do("PATCH", path+"/chat", body), 400, "invalid")
	}
}

// TestModerationSlowMode shows slow mode: a participant's second send within
// the interval is 429 rate_limited with Retry-After; edits and moderators are
// exempt.
func TestModerationSlowMode(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	path, cs := modRoom(t, s, "bob")
	room, bob := modRoomID(path), cs["bob"]
	var got api.Room
	cs["mod"].Must(200, "PATCH", path+"/chat", map[string]any{"slow_mode_seconds": 60}, &got)
	if got.Chat.SlowModeSeconds != 60 {
		t.Fatalf("got slow_mode_seconds %d, want 60", got.Chat.SlowModeSeconds)
	}
	msg := bob.Send(room, "one")
	r := bob.Do("POST", path+"/messages", map[string]string{"content": "two"})
	modProblem(t, r, 429, "rate_limited")
	if n := modRetryAfter(t, r); n < 59 || n > 60 {
		t.Fatalf("got Retry-After %d, want about 60", n)
	}
	if me := modMe(bob, path); me.CanPost || *me.Reason != "rate_limited" || me.RetryAfterSeconds < 59 {
		t.Fatalf("got me %+v, want reason rate_limited with about 60 s to wait", me)
	}
	bob.Must(200, "PATCH", path+"/messages/"+msg.ID, map[string]string{"content": "one, edited"}, nil)
	for _, u := range []string{"mod", "owner", "admin"} {
		cs[u].Send(room, "first")
		cs[u].Send(room, "second")
	}
	cs["mod"].Must(200, "PATCH", path+"/chat", map[string]any{"slow_mode_seconds": 0}, nil)
	bob.Send(room, "two, at last")
}

// TestModerationFloodLimit shows the per-user flood limit: the fourth quick
// send of three allowed is 429 with Retry-After, GET /me says so, and
// moderators are exempt.
func TestModerationFloodLimit(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{SendRate: models.Rate{Count: 3, Per: 30 * time.Second}})
	path, cs := modRoom(t, s, "bob")
	room, bob := modRoomID(path), cs["bob"]
	var msg api.RoomMessage
	for i := range 3 {
		msg = bob.Send(room, "quick "+modI(int64(i)))
	}
	r := bob.Do("POST", path+"/messages", map[string]string{"content": "one too many"})
	if p := modProblem(t, r, 429, "rate_limited"); p.Until == nil {
		t.Fatalf("got no until on a flood refusal, want one")
	}
	if n := modRetryAfter(t, r); n > 10 {
		t.Fatalf("got Retry-After %d, want at most 10 (one send refills in 10 s)", n)
	}
	me := modMe(bob, path)
	if me.CanPost || me.Reason == nil || *me.Reason != "rate_limited" || me.RetryAfterSeconds <= 0 {
		t.Fatalf("got me %+v, want can_post false, reason rate_limited, retry_after_seconds > 0", me)
	}
	modProblem(t, bob.Do("PATCH", path+"/messages/"+msg.ID, map[string]string{"content": "edits count too"}), 429, "rate_limited")
	for _, u := range []string{"mod", "owner", "admin"} {
		for i := range 5 {
			cs[u].Send(room, "exempt "+modI(int64(i)))
		}
		if me := modMe(cs[u], path); !me.CanPost {
			t.Fatalf("%s: got me %+v, want can_post true", u, me)
		}
	}
}

// TestModerationMe shows that GET /me answers, for every kind of caller, what
// a send would: can_post exactly when the send succeeds, else the send's code
// as reason and its Retry-After as retry_after_seconds.
func TestModerationMe(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{SendRate: models.Rate{Count: 2, Per: time.Minute}})
	path, cs := modRoom(t, s, "bob", "muted", "banned", "flooder")
	cs["outsider"] = s.Client(t, "outsider")
	room := modRoomID(path)
	cs["flooder"].Send(room, "one")
	cs["flooder"].Send(room, "two")
	cs["mod"].Must(200, "PUT", path+"/mutes/muted", map[string]any{"duration_seconds": 600}, nil)
	cs["mod"].Must(200, "PUT", path+"/bans/banned", map[string]any{"duration_seconds": 600}, nil)
	locked, lcs := modRoom(t, s, "bob")
	lcs["mod"].Must(200, "PATCH", locked+"/chat", map[string]any{"locked_until": time.Now().Add(time.Hour).Format(time.RFC3339)}, nil)
	slow, scs := modRoom(t, s, "bob")
	scs["mod"].Must(200, "PATCH", slow+"/chat", map[string]any{"slow_mode_seconds": 600}, nil)
	scs["bob"].Send(modRoomID(slow), "first")

	rows := []struct {
		name, path string
		c          *Client
		role       string // "" for none
		reason     string // "" when the send goes through
	}{
		{"owner", path, cs["owner"], "owner", ""},
		{"moderator", path, cs["mod"], "moderator", ""},
		{"participant", path, cs["bob"], "participant", ""},
		{"admin not joined", path, cs["admin"], "", ""},
		{"muted", path, cs["muted"], "participant", "muted"},
		{"banned", path, cs["banned"], "", "banned"},
		{"outsider", path, cs["outsider"], "", "not_participant"},
		{"flooded", path, cs["flooder"], "participant", "rate_limited"},
		{"locked participant", locked, lcs["bob"], "participant", "chat_locked"},
		{"locked moderator", locked, lcs["mod"], "moderator", ""},
		{"slow participant", slow, scs["bob"], "participant", "rate_limited"},
		{"slow moderator", slow, scs["mod"], "moderator", ""},
	}
	for _, row := range rows {
		me := modMe(row.c, row.path)
		r := row.c.Do("POST", row.path+"/messages", map[string]string{"content": "does /me tell the truth?"})
		role := ""
		if me.Role != nil {
			role = *me.Role
		}
		if role != row.role {
			t.Errorf("%s: got role %q, want %q", row.name, role, row.role)
		}
		if row.reason == "" {
			if !me.CanPost || me.Reason != nil || me.RetryAfterSeconds != 0 || r.Status != http.StatusCreated {
				t.Errorf("%s: got me %+v and send %d, want can_post true and 201", row.name, me, r.Status)
			}
			continue
		}
		p := modProblem(t, r, r.Status, row.reason)
		if me.CanPost || me.Reason == nil || *me.Reason != p.Code {
			t.Errorf("%s: got me %+v, want can_post false and reason %q as the send got", row.name, me, p.Code)
		}
		// /me was read first, so it may round up to one second more.
		ra, _ := strconv.ParseInt(r.Header.Get("Retry-After"), 10, 64)
		if d := me.RetryAfterSeconds - ra; d < 0 || d > 1 {
			t.Errorf("%s: got retry_after_seconds %d, want the send's Retry-After %d", row.name, me.RetryAfterSeconds, ra)
		}
	}
}
