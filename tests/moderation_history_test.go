package tests

import (
	"net/http"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// TestModerationLog shows the moderation log: one entry per action, newest
// first, paged by before and limit with has_more, for moderators only.
func TestModerationLog(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	path, cs := modRoom(t, s, "bob", "carol", "eve")
	room, mod := modRoomID(path), cs["mod"]
	mod.Must(200, "PUT", path+"/mutes/bob", map[string]any{"duration_seconds": 60, "reason": "noise"}, nil)
	mod.Must(204, "DELETE", path+"/mutes/bob", nil, nil)
	msg := cs["bob"].Send(room, "delete me")
	mod.Must(204, "DELETE", path+"/messages/"+msg.ID, nil, nil)
	cs["owner"].Must(200, "PUT", path+"/participants/carol/role", map[string]string{"role": "moderator"}, nil)
	mod.Must(200, "PUT", path+"/bans/dave", map[string]any{"duration_seconds": 60, "reason": "trolling"}, nil)
	mod.Must(204, "DELETE", path+"/bans/dave", nil, nil)
	mod.Must(204, "DELETE", path+"/participants/bob", nil, nil)
	mod.Must(200, "PATCH", path+"/chat", map[string]any{"locked_until": time.Now().Add(time.Hour).Format(time.RFC3339)}, nil)

	want := []struct {
		action, actor, target, reason string
		until, message                bool
	}{
		{"room.chat", "mod", "", "", true, false},
		{"participant.kick", "mod", "bob", "", false, false},
		{"user.unban", "mod", "dave", "", false, false},
		{"user.ban", "mod", "dave", "trolling", true, false},
		{"participant.role", "owner", "carol", "moderator", false, false},
		{"message.delete", "mod", "bob", "", false, true},
		{"user.unmute", "mod", "bob", "", false, false},
		{"user.mute", "mod", "bob", "noise", true, false},
		{"participant.role", "owner", "mod", "moderator", false, false}, // modRoom's promotion
	}
	var all api.ModerationLog
	cs["owner"].Must(200, "GET", path+"/moderation-log", nil, &all)
	if len(all.Entries) != len(want) || all.HasMore {
		t.Fatalf("got %d entries (has_more %v), want %d and no more", len(all.Entries), all.HasMore, len(want))
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	for i, w := range want {
		e := all.Entries[i]
		if e.Action != w.action || e.ActorID != w.actor || str(e.TargetID) != w.target || str(e.Reason) != w.reason ||
			(e.Until != nil) != w.until || (w.message && str(e.MessageID) != msg.ID) || (!w.message && e.MessageID != nil) {
			t.Errorf("entry %d: got %s by %s on %s reason %q until %v message %v, want %+v",
				i, e.Action, e.ActorID, str(e.TargetID), str(e.Reason), e.Until, e.MessageID, w)
		}
		if i > 0 && e.ID >= all.Entries[i-1].ID {
			t.Errorf("entry %d: got id %d after %d, want ids decreasing", i, e.ID, all.Entries[i-1].ID)
		}
	}

	var paged []api.LogEntry
	for _, page := range []struct {
		before int
		more   bool
	}{{-1, true}, {2, true}, {5, false}} {
		q := "?limit=3"
		if page.before >= 0 {
			q += "&before=" + modI(paged[page.before].ID)
		}
		var got api.ModerationLog
		mod.Must(200, "GET", path+"/moderation-log"+q, nil, &got)
		if got.HasMore != page.more {
			t.Fatalf("%s: got has_more %v, want %v", q, got.HasMore, page.more)
		}
		paged = append(paged, got.Entries...)
	}
	for i := range all.Entries {
		if i >= len(paged) || paged[i].ID != all.Entries[i].ID {
			t.Fatalf("paged entries %v differ from the whole log at %d", paged, i)
		}
	}
	var exact api.ModerationLog
	if mod.Must(200, "GET", path+"/moderation-log?limit=9", nil, &exact); exact.HasMore || len(exact.Entries) != 9 {
		t.Fatalf("limit=9: got %d entries, has_more %v, want 9 and false", len(exact.Entries), exact.HasMore)
	}

	modProblem(t, cs["eve"].Do("GET", path+"/moderation-log", nil), 403, "forbidden")
	modProblem(t, s.Client(t, "outsider").Do("GET", path+"/moderation-log", nil), 403, "not_participant")
	for _, q := range []string{"?limit=0", "?limit=101", "?limit=x", "?before=0", "?before=x", "?limit=1&limit=2"} {
		modProblem(t, mod.Do("GET", path+"/moderation-log"+q, nil), 400, "invalid")
	}
}

// TestModerationAuthExpired shows a stream ending with auth.expired when its
// credential does (a token or a ticket from it), and a reconnect with a fresh
// token and Last-Event-ID losing nothing of what was posted around the expiry.
func TestModerationAuthExpired(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	for _, via := range []string{"token", "ticket"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			path, cs := modRoom(t, s, "bob")
			room := modRoomID(path)
			head := cs["owner"].History(room, "").HeadSeq
			short := s.Token(t, "bob", false, 2*time.Second)
			opened := time.Now()
			var st *Stream
			if via == "ticket" {
				var tk api.StreamTicket
				(&Client{t: t, s: s, User: "bob", Token: short}).Must(http.StatusCreated, "POST", path+"/stream-ticket", nil, &tk)
				st = s.OpenStream(t, path+"/events", "", "?ticket="+tk.Ticket+"&last_event_id="+modI(head))
			} else {
				st = s.OpenStream(t, path+"/events", short, "Last-Event-ID", modI(head))
			}
			if st.Status != 200 {
				t.Fatalf("got stream status %d, want 200", st.Status)
			}
			// Post steadily until the stream ends, so messages land on both
			// sides of the expiry, then a few more.
			var sent []int64
			for !st.Ended(100 * time.Millisecond) {
				if time.Since(opened) > 5*time.Second {
					t.Fatalf("stream still open 5 s after opening with a 2 s token")
				}
				sent = append(sent, cs["owner"].Send(room, "tick").Seq)
			}
			if d := time.Since(opened); d < 800*time.Millisecond {
				t.Fatalf("stream ended after %s, want about when the token expires", d)
			}
			for range 3 {
				sent = append(sent, cs["owner"].Send(room, "after").Seq)
			}
			var got []int64
			last := modI(head)
			evs := st.Drain()
			for i, ev := range evs {
				switch {
				case ev.Type == "":
				case ev.Type == "auth.expired":
					if env := ev.Envelope(t); ev.ID != "" || env.Seq != 0 || i != len(evs)-1 {
						t.Fatalf("got auth.expired with id %q seq %d at %d of %d, want no id, seq 0, last", ev.ID, env.Seq, i, len(evs))
					}
				case ev.Type == "message.created":
					got, last = append(got, modSeq(t, ev)), ev.ID
				}
			}
			if evs[len(evs)-1].Type != "auth.expired" {
				t.Fatalf("got last event %s, want auth.expired", evs[len(evs)-1].Type)
			}
			again := s.Client(t, "bob").Stream(room, "Last-Event-ID", last)
			for _, ev := range modUntilSeq(t, again, sent[len(sent)-1]) {
				got = append(got, modSeq(t, ev))
			}
			if len(got) != len(sent) {
				t.Fatalf("got seqs %v across the reconnect, want %v", got, sent)
			}
			for i := range sent {
				if got[i] != sent[i] {
					t.Fatalf("got seqs %v across the reconnect, want %v", got, sent)
				}
			}
		})
	}
}

// TestModerationResumeReplay shows a stream resumed after an absence replaying
// the moderation it missed, in seq order, with the message between them.
func TestModerationResumeReplay(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	path, cs := modRoom(t, s, "bob", "carol")
	room := modRoomID(path)
	st := cs["carol"].Stream(room, "Last-Event-ID", modI(cs["carol"].History(room, "").HeadSeq))
	cs["bob"].Send(room, "hello")
	last := modSeq(t, st.NextRoomEvent(2*time.Second))
	st.Close()

	cs["mod"].Must(200, "PUT", path+"/mutes/bob", map[string]any{"duration_seconds": 60}, nil)
	cs["owner"].Must(200, "PUT", path+"/participants/carol/role", map[string]string{"role": "moderator"}, nil)
	cs["mod"].Must(200, "PATCH", path+"/chat", map[string]any{"locked_until": time.Now().Add(time.Hour).Format(time.RFC3339)}, nil)
	modProblem(t, cs["bob"].Do("POST", path+"/messages", map[string]string{"content": "muted"}), 403, "muted")
	cs["owner"].Send(room, "announcement")
	cs["mod"].Must(204, "DELETE", path+"/mutes/bob", nil, nil)
	cs["mod"].Must(200, "PATCH", path+"/chat", map[string]any{"locked_until": nil, "slow_mode_seconds": 30}, nil)
	want := []string{"user.muted", "participant.role_changed", "room.chat_updated", "message.created", "user.unmuted", "room.chat_updated"}

	for _, resume := range []struct {
		name string
		args []string
	}{{"header", []string{"Last-Event-ID", modI(last)}}, {"query", []string{"?last_event_id=" + modI(last)}}} {
		t.Run(resume.name, func(t *testing.T) {
			t.Parallel()
			carol := &Client{t: t, s: s, User: "carol", Token: cs["carol"].Token}
			evs := carol.Stream(room, resume.args...).Collect(len(want), 3*time.Second)
			for i, ev := range evs {
				if ev.Type != want[i] || ev.ID != modI(last+1+int64(i)) || ev.Envelope(t).Seq != last+1+int64(i) {
					t.Fatalf("event %d: got %s id %s, want %s id %d", i, ev.Type, ev.ID, want[i], last+1+int64(i))
				}
			}
			var muted api.UserMutedData
			if modData(t, evs[0], &muted); muted.UserID != "bob" || muted.By != "mod" || muted.Until == nil {
				t.Fatalf("got user.muted %+v, want bob by mod with until", muted)
			}
			var role api.Participant
			if modData(t, evs[1], &role); role.UserID != "carol" || role.Role != "moderator" {
				t.Fatalf("got role change %+v, want carol moderator", role)
			}
			var chat api.ChatUpdatedData
			if modData(t, evs[5], &chat); chat.LockedUntil != nil || chat.SlowModeSeconds != 30 {
				t.Fatalf("got chat update %+v, want unlocked with slow mode 30", chat)
			}
			if head := carol.History(room, "").HeadSeq; modI(head) != evs[len(evs)-1].ID {
				t.Fatalf("replay ends at %s, want the head %d", evs[len(evs)-1].ID, head)
			}
		})
	}
}
