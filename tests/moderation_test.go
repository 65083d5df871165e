package tests

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// modRoom creates a room owned by "owner" in which "mod" is a moderator and
// the others have joined as plain participants. It returns the room's path and
// clients for everyone, plus "admin", a platform admin who has not joined.
func modRoom(t *testing.T, s *Server, others ...string) (string, map[string]*Client) {
	t.Helper()
	room := uniqueRoom(t)
	cs := map[string]*Client{"owner": s.Client(t, "owner"), "mod": s.Client(t, "mod"), "admin": s.Admin(t, "admin")}
	cs["owner"].CreateRoom(room)
	path := "/api/v1/rooms/" + room
	for _, u := range append([]string{"mod"}, others...) {
		if cs[u] == nil {
			cs[u] = s.Client(t, u)
		}
		cs[u].Join(room)
	}
	cs["owner"].Must(http.StatusOK, "PUT", path+"/participants/mod/role", map[string]string{"role": "moderator"}, nil)
	return path, cs
}

// modRoomID is the room id of a room path.
func modRoomID(path string) string { return path[strings.LastIndex(path, "/")+1:] }

// modProblem checks that r is a problem document with status and code.
func modProblem(t *testing.T, r *Response, status int, code string) api.Problem {
	t.Helper()
	if r.Status != status {
		t.Fatalf("got status %d, want %d %s: %s", r.Status, status, code, r.Body)
	}
	p := r.Problem(t)
	if p.Code != code || p.Status != status {
		t.Fatalf("got problem %q/%d, want %q/%d: %s", p.Code, p.Status, code, status, r.Body)
	}
	return p
}

// modRetryAfter returns the Retry-After header, which must be a positive
// number of seconds.
func modRetryAfter(t *testing.T, r *Response) int {
	t.Helper()
	n, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Fatalf("got Retry-After %q, want a positive integer", r.Header.Get("Retry-After"))
	}
	return n
}

// modI formats a seq or id for a URL.
func modI(n int64) string { return strconv.FormatInt(n, 10) }

// modTime parses an RFC 3339 time of the wire.
func modTime(t *testing.T, s *string) time.Time {
	t.Helper()
	if s == nil {
		t.Fatalf("got no time, want one")
	}
	v, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		t.Fatalf("time %q: %v", *s, err)
	}
	return v
}

// modMe reads what c may do in the room.
func modMe(c *Client, path string) api.Me {
	c.t.Helper()
	var me api.Me
	c.Must(http.StatusOK, "GET", path+"/me", nil, &me)
	return me
}

// modSeq is the seq of a room event.
func modSeq(t *testing.T, ev Event) int64 {
	t.Helper()
	n, err := strconv.ParseInt(ev.ID, 10, 64)
	if err != nil {
		t.Fatalf("event %s has id %q, want a seq", ev.Type, ev.ID)
	}
	return n
}

// modData decodes the data of ev's envelope into v and returns the
// envelope's seq.
func modData(t *testing.T, ev Event, v any) int64 {
	t.Helper()
	data, seq := envelope[json.RawMessage](t, ev)
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("event %s: data %s: %v", ev.Type, data, err)
	}
	return seq
}

// modUntilEvent reads st until an event of type typ and returns the events
// read, that one last.
func modUntilEvent(t *testing.T, st *Stream, typ string) []Event {
	t.Helper()
	var out []Event
	for {
		ev := st.NextRoomEvent(3 * time.Second)
		out = append(out, ev)
		if ev.Type == typ {
			return out
		}
	}
}

// modUntilSeq reads st until the event with seq and returns the events read.
func modUntilSeq(t *testing.T, st *Stream, seq int64) []Event {
	t.Helper()
	var out []Event
	for {
		ev := st.NextRoomEvent(3 * time.Second)
		out = append(out, ev)
		if ev.ID == strconv.FormatInt(seq, 10) {
			return out
		}
	}
}

// TestModerationRoles shows who may change roles: the owner and admins, never a
// moderator, and never the owner's own role.
func TestModerationRoles(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	path, cs := modRoom(t, s, "bob", "carol")
	st := cs["carol"].Stream(modRoomID(path), "Last-Event-ID", strconv.FormatInt(cs["owner"].History(modRoomID(path), "").HeadSeq, 10))
	steps := []struct {
		actor, target, role string
		status              int
		code                string
	}{
		{"owner", "bob", "moderator", 200, ""},
		{"mod", "carol", "moderator", 403, "forbidden"},
		{"mod", "bob", "participant", 403, "forbidden"},
		{"bob", "mod", "participant", 403, "forbidden"},
		{"owner", "bob", "participant", 200, ""},
		{"owner", "owner", "participant", 403, "forbidden"},
		{"admin", "owner", "moderator", 403, "forbidden"},
		{"admin", "carol", "moderator", 200, ""},
		{"owner", "mod", "participant", 200, ""},
		{"owner", "nobody", "moderator", 404, "not_found"},
		{"owner", "bob", "owner", 400, "invalid"},
	}
	for _, step := range steps {
		r := cs[step.actor].Do("PUT", path+"/participants/"+step.target+"/role", map[string]string{"role": step.role})
		if step.code != "" {
			modProblem(t, r, step.status, step.code)
			continue
		}
		var p api.Participant
		if r.Status != step.status {
			t.Fatalf("%s sets %s to %s: got %d, want %d: %s", step.actor, step.target, step.role, r.Status, step.status, r.Body)
		}
		r.JSON(t, &p)
		if p.UserID != step.target || p.Role != step.role {
			t.Fatalf("%s sets %s to %s: got %s %s", step.actor, step.target, step.role, p.UserID, p.Role)
		}
		ev := st.NextRoomEvent(3 * time.Second)
		var got api.Participant
		if modData(t, ev, &got); ev.Type != "participant.role_changed" || got.UserID != step.target || got.Role != step.role {
			t.Fatalf("got event %s %s, want participant.role_changed %s %s", ev.Type, ev.Data, step.target, step.role)
		}
	}
	// The demoted moderator lost the power with the role.
	modProblem(t, cs["mod"].Do("PUT", path+"/mutes/bob", map[string]any{"duration_seconds": 60}), 403, "forbidden")
	if evs := st.Drain(); len(evs) != 0 {
		t.Fatalf("got extra events %v after the role changes, want none", evs)
	}
}

// TestModerationRank shows the rank rule: a moderator may act only on plain
// participants, an owner also on moderators, an admin on anyone but another
// admin. Each row runs on a fresh room.
func TestModerationRank(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	acts := map[string]struct {
		method, path string
		body         any
		ok           int
	}{
		"mute":   {"PUT", "/mutes/{u}", map[string]any{"duration_seconds": 60}, 200},
		"ban":    {"PUT", "/bans/{u}", map[string]any{"reason": "rank test"}, 200},
		"kick":   {"DELETE", "/participants/{u}", nil, 204},
		"delete": {"DELETE", "/messages/{msg}", nil, 204},
	}
	rows := []struct {
		actor  string
		allow  []string
		refuse []string
	}{
		{"mod", []string{"bob"}, []string{"owner", "mod2", "admin2"}},
		{"owner", []string{"bob", "mod2"}, []string{"admin2"}},
		{"admin", []string{"bob", "mod2", "owner"}, []string{"admin2"}},
	}
	for _, row := range rows {
		for _, pass := range []bool{true, false} {
			targets := row.refuse
			if pass {
				targets = row.allow
			}
			for _, target := range targets {
				for name, act := range acts {
					t.Run(row.actor+"_"+name+"_"+target, func(t *testing.T) {
						t.Parallel()
						path, cs := modRoom(t, s, "bob", "mod2")
						cs["admin2"] = s.Admin(t, "admin2")
						cs["admin2"].Join(modRoomID(path))
						cs["admin"].Join(modRoomID(path))
						cs["owner"].Must(200, "PUT", path+"/participants/mod2/role", map[string]string{"role": "moderator"}, nil)
						msg := cs[target].Send(modRoomID(path), "a message by "+target)
						p := strings.NewReplacer("{u}", target, "{msg}", msg.ID).Replace(path + act.path)
						r := cs[row.actor].Do(act.method, p, act.body)
						if !pass {
							modProblem(t, r, 403, "forbidden")
							return
						}
						if r.Status != act.ok {
							t.Fatalf("%s %s %s: got %d, want %d: %s", row.actor, name, target, r.Status, act.ok, r.Body)
						}
					})
				}
			}
		}
	}
}

// TestModerationDeleteMessage shows a moderator deleting a participant's
// message: every stream hears message.deleted, history keeps a tombstone, and
// a replay from the start never carries the text again, edits included.
func TestModerationDeleteMessage(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	path, cs := modRoom(t, s, "bob", "carol")
	room := modRoomID(path)
	head := strconv.FormatInt(cs["owner"].History(room, "").HeadSeq, 10)
	streams := map[string]*Stream{"owner": cs["owner"].Stream(room, "Last-Event-ID", head), "carol": cs["carol"].Stream(room, "Last-Event-ID", head)}
	msg := cs["bob"].Send(room, "first secret: opal-7731")
	cs["bob"].Must(200, "PATCH", path+"/messages/"+msg.ID, map[string]string{"content": "second secret: jade-4410"}, nil)
	keep := cs["bob"].Send(room, "this one stays")
	cs["mod"].Must(204, "DELETE", path+"/messages/"+msg.ID, nil, nil)
	cs["mod"].Must(204, "DELETE", path+"/messages/"+msg.ID, nil, nil) // idempotent: no second event
	closing := cs["owner"].Send(room, "after the delete")

	for who, st := range streams {
		evs := modUntilEvent(t, st, "message.deleted")
		var del api.MessageDeletedData
		modData(t, evs[len(evs)-1], &del)
		if del.ID != msg.ID || del.Seq != msg.Seq || del.DeletedBy != "mod" {
			t.Fatalf("%s got message.deleted %+v, want id %s seq %d by mod", who, del, msg.ID, msg.Seq)
		}
		if next := st.NextRoomEvent(3 * time.Second); next.ID != strconv.FormatInt(closing.Seq, 10) {
			t.Fatalf("%s got %s %s after message.deleted, want the next message (seq %d)", who, next.Type, next.ID, closing.Seq)
		}
	}
	for _, reader := range []string{"bob", "mod", "owner", "admin"} {
		var m api.RoomMessage
		cs[reader].Must(200, "GET", path+"/messages/"+msg.ID, nil, &m)
		if !m.IsDeleted || m.Content != "" || m.Seq != msg.Seq {
			t.Fatalf("%s reads the deleted message: got %+v, want a tombstone at seq %d", reader, m, msg.Seq)
		}
	}
	page := cs["carol"].History(room, "")
	for _, m := range page.Messages {
		if m.ID == msg.ID && (!m.IsDeleted || m.Content != "") || m.ID == keep.ID && m.Content != keep.Content {
			t.Fatalf("history has %+v, want a tombstone for %s and %s intact", m, msg.ID, keep.ID)
		}
	}
	modProblem(t, cs["bob"].Do("PATCH", path+"/messages/"+msg.ID, map[string]string{"content": "undo"}), 404, "not_found")

	for _, reader := range []string{"carol", "mod"} {
		st := cs[reader].Stream(room, "Last-Event-ID", "0")
		evs := modUntilSeq(t, st, closing.Seq)
		deleted := 0
		for _, ev := range evs {
			if strings.Contains(ev.Data, "opal-7731") || strings.Contains(ev.Data, "jade-4410") {
				t.Fatalf("%s's replay carries deleted text: %s %s", reader, ev.Type, ev.Data)
			}
			if ev.Type == "message.deleted" {
				deleted++
			}
		}
		if deleted != 1 {
			t.Fatalf("%s's replay has %d message.deleted events, want 1", reader, deleted)
		}
		st.Close()
	}
}
