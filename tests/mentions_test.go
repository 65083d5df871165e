package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// sendMentions posts content mentioning users and returns the message.
func (c *Client) sendMentions(room, content string, mentions ...string) api.RoomMessage {
	c.t.Helper()
	var m api.RoomMessage
	c.Must(http.StatusCreated, "POST", "/api/v1/rooms/"+room+"/messages", map[string]any{"content": content, "mentions": mentions}, &m)
	return m
}

// A mention names participants of the room, at most 20 distinct ones; every
// other list is a 400 invalid whose detail says what is wrong, on a send and
// on an edit, and nothing is stored.
func TestMentionsValidation(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	msgs := "/api/v1/rooms/" + room + "/messages"
	mine := alice.Send(room, "to be edited")
	var many []string
	for i := range 21 {
		many = append(many, fmt.Sprintf("user%d", i))
	}
	for _, tc := range []struct {
		name, body, detail string
	}{
		{"21 distinct ids", `{"content":"hi","mentions":` + jsonOf(t, many) + `}`, "21 distinct users; the limit is 20"},
		{"not a participant", `{"content":"hi","mentions":["bob","carol"]}`, `"carol" is not a participant`},
		{"a string, not a list", `{"content":"hi","mentions":"bob"}`, "mentions"},
		{"a number in the list", `{"content":"hi","mentions":[1]}`, "mentions"},
		{"an object", `{"content":"hi","mentions":{"bob":true}}`, "mentions"},
		{"an empty id", `{"content":"hi","mentions":[""]}`, `"" is not a user id`},
		{"a control character", `{"content":"hi","mentions":["bo\u0000b"]}`, "is not a user id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, call := range []struct{ method, path string }{{"POST", msgs}, {"PATCH", msgs + "/" + mine.ID}} {
				r := alice.Do(call.method, call.path, tc.body)
				if r.Status != http.StatusBadRequest {
					t.Fatalf("%s: got %d %s, want 400", call.method, r.Status, r.Body)
				}
				if p := r.Problem(t); p.Code != "invalid" || !strings.Contains(p.Detail, tc.detail) {
					t.Errorf("%s: got %s %q, want invalid naming %q", call.method, p.Code, p.Detail, tc.detail)
				}
			}
		})
	}
	page := alice.History(room, "")
	if len(page.Messages) != 1 || page.Messages[0].Content != "to be edited" || len(page.Messages[0].Mentions) != 0 {
		t.Errorf("after refused sends and edits: history %+v, want the one message unchanged", page.Messages)
	}

	// Twenty distinct ids pass, and repeats are folded (so 21 entries with
	// one repeat are 20): here, of the room's own participants.
	for i := range 19 {
		s.Client(t, many[i]).Join(room)
	}
	ids := append(slices.Clone(many[:19]), "bob", "bob")
	m := alice.sendMentions(room, "everyone!", ids...)
	if want := append(slices.Clone(many[:19]), "bob"); !slices.Equal(m.Mentions, want) {
		t.Errorf("mentions: got %v, want %v (repeats folded, order kept)", m.Mentions, want)
	}
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Mentions are part of every RoomMessage: the send's answer, the stream's
// message.created and message.updated, history, one message, and a retried
// send's answer; a message without mentions has [].
func TestMentionsEverywhere(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob, carol := s.Client(t, "alice"), s.Client(t, "bob"), s.Client(t, "carol")
	room := coreRoom(t, alice, bob, carol)
	st := bob.Stream(room)
	msgs := "/api/v1/rooms/" + room + "/messages"

	plain := alice.Send(room, "no one in particular")
	if plain.Mentions == nil || len(plain.Mentions) != 0 {
		t.Errorf("a message without mentions: mentions %v, want []", plain.Mentions)
	}
	if !strings.Contains(string(alice.Do("GET", msgs+"/"+plain.ID, nil).Body), `"mentions":[]`) {
		t.Errorf("a message without mentions does not say \"mentions\":[]")
	}
	var m api.RoomMessage
	body := map[string]any{"content": "hi @bob @carol", "client_id": "c-1", "mentions": []string{"bob", "carol"}}
	alice.Must(http.StatusCreated, "POST", msgs, body, &m)
	if !slices.Equal(m.Mentions, []string{"bob", "carol"}) {
		t.Fatalf("send answer: mentions %v, want [bob carol]", m.Mentions)
	}
	var retry api.RoomMessage
	alice.Must(http.StatusOK, "POST", msgs, body, &retry)
	if retry.ID != m.ID || !slices.Equal(retry.Mentions, m.Mentions) {
		t.Errorf("retried send: %s %v, want %s %v", retry.ID, retry.Mentions, m.ID, m.Mentions)
	}
	got := coreNext(t, st, 2, 5*time.Second)
	if !slices.Equal(got[1].Mentions, []string{"bob", "carol"}) || len(got[0].Mentions) != 0 {
		t.Errorf("message.created: mentions %v and %v, want [] and [bob carol]", got[0].Mentions, got[1].Mentions)
	}

	// An edit with mentions replaces them; one without keeps them.
	var edited api.RoomMessage
	alice.Must(http.StatusOK, "PATCH", msgs+"/"+m.ID, map[string]any{"content": "hi @carol", "mentions": []string{"carol"}}, &edited)
	alice.Must(http.StatusOK, "PATCH", msgs+"/"+m.ID, map[string]any{"content": "hi @carol, again"}, &edited)
	if !slices.Equal(edited.Mentions, []string{"carol"}) {
		t.Errorf("edit without mentions: %v, want [carol] kept", edited.Mentions)
	}
	var updates [][]string
	for len(updates) < 2 {
		if ev := st.NextRoomEvent(5 * time.Second); ev.Type == "message.updated" {
			updates = append(updates, coreMessage(t, ev).Mentions)
		}
	}
	if !slices.Equal(updates[0], []string{"carol"}) || !slices.Equal(updates[1], []string{"carol"}) {
		t.Errorf("message.updated: mentions %v, want [carol] twice", updates)
	}
	page := bob.History(room, "")
	if len(page.Messages) != 2 || !slices.Equal(page.Messages[0].Mentions, []string{"carol"}) || len(page.Messages[1].Mentions) != 0 {
		t.Errorf("history: %+v, want mentions [carol] and []", page.Messages)
	}
	// A user mentioned once may stay mentioned after leaving; a new
	// mention of someone not in the room is refused.
	carol.Must(http.StatusNoContent, "DELETE", "/api/v1/rooms/"+room+"/participants/carol", nil, nil)
	alice.Must(http.StatusOK, "PATCH", msgs+"/"+m.ID, map[string]any{"content": "hi @carol @bob", "mentions": []string{"carol", "bob"}}, &edited)
	if r := alice.Do("PATCH", msgs+"/"+plain.ID, map[string]any{"content": "hi @carol", "mentions": []string{"carol"}}); r.Status != http.StatusBadRequest {
		t.Errorf("a new mention of a user who left: %d, want 400", r.Status)
	}
	// A deleted message's tombstone names no one, nor does its replay.
	alice.Must(http.StatusNoContent, "DELETE", msgs+"/"+m.ID, nil, nil)
	var tomb api.RoomMessage
	bob.Must(http.StatusOK, "GET", msgs+"/"+m.ID, nil, &tomb)
	if !tomb.IsDeleted || tomb.Mentions == nil || len(tomb.Mentions) != 0 {
		t.Errorf("tombstone: deleted %v, mentions %v; want [] ", tomb.IsDeleted, tomb.Mentions)
	}
	replay := bob.Stream(room, "Last-Event-ID", "0")
	for _, ev := range replay.Collect(int(bob.History(room, "").HeadSeq), 5*time.Second) {
		if strings.Contains(ev.Data, m.ID) && strings.Contains(ev.Data, `"carol"`) {
			t.Errorf("a replayed event still names who the deleted message mentioned: %s", ev.Data)
		}
	}
}
