package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// reactPath is the path of a message's reaction emoji (path-escaped), or of
// all its reactions when emoji is "".
func reactPath(room, msg, emoji string) string {
	p := "/api/v1/rooms/" + room + "/messages/" + msg + "/reactions"
	if emoji != "" {
		p += "/" + url.PathEscape(emoji)
	}
	return p
}

// tally is a tally without me, as events carry it and tests compare it.
func tally(rs []api.Reaction) []api.ReactionCount {
	out := []api.ReactionCount{}
	for _, r := range rs {
		out = append(out, api.ReactionCount{Emoji: r.Emoji, Count: r.Count})
	}
	return out
}

// react adds c's reaction and returns the answer.
func react(c *Client, room, msg, emoji string) api.MessageReactions {
	c.t.Helper()
	var out api.MessageReactions
	c.Must(http.StatusOK, "PUT", reactPath(room, msg, emoji), nil, &out)
	return out
}

// reactionEvents reads the stream until the message.reactions event of msg
// whose tally is want, and returns every message.reactions event of msg
// read on the way, that one last.
func reactionEvents(t testing.TB, st *Stream, msg string, want []api.ReactionCount, timeout time.Duration) []api.MessageReactionsData {
	t.Helper()
	var got []api.MessageReactionsData
	deadline := time.Now().Add(timeout)
	for {
		ev := st.NextRoomEvent(time.Until(deadline))
		if ev.Type != models.EventMessageReactions {
			continue
		}
		var env struct {
			Seq  int64           `json:"seq"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &env); err != nil {
			t.Fatalf("message.reactions data %s: %v", ev.Data, err)
		}
		if strings.Contains(string(env.Data), `"me"`) {
			t.Fatalf("message.reactions carries me: %s", env.Data)
		}
		if ev.ID != fmt.Sprint(env.Seq) || env.Seq == 0 {
			t.Fatalf("message.reactions id %q, envelope seq %d: want a room event with its own seq", ev.ID, env.Seq)
		}
		var d api.MessageReactionsData
		if err := json.Unmarshal(env.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d.ID != msg {
			continue
		}
		got = append(got, d)
		if reflect.DeepEqual(d.Reactions, want) {
			return got
		}
	}
}

// TestReactions walks the contract's reactions on each database: idempotent
// add, tallies in order of first use with me only for the caller, the same
// tally in history, one message and the stream's message.reactions, removal
// of one's own, the emoji check, the 20-emoji cap, the moderator's clear
// under the rank rule, the send checks (mute), and deleted messages.
func TestReactions(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s *Server) {
		alice, bob, carol, dave := s.Client(t, "alice"), s.Client(t, "bob"), s.Client(t, "carol"), s.Client(t, "dave")
		room := coreRoom(t, alice, bob, carol, dave)
		alice.Must(http.StatusOK, "PUT", "/api/v1/rooms/"+room+"/participants/dave/role", map[string]string{"role": "moderator"}, nil)
		msg := bob.Send(room, "react to me")
		if msg.Reactions == nil || len(msg.Reactions) != 0 {
			t.Fatalf("a new message's reactions: got %v, want []", msg.Reactions)
		}
		st := carol.Stream(room, "Last-Event-ID", fmt.Sprint(msg.Seq))

		yes, no := true, false
		got := react(bob, room, msg.ID, "👍")
		if want := []api.Reaction{{Emoji: "👍", Count: 1, Me: &yes}}; got.MessageID != msg.ID || !reflect.DeepEqual(got.Reactions, want) {
			t.Fatalf("first reaction: got %+v, want %s %+v", got, msg.ID, want)
		}
		if again := react(bob, room, msg.ID, "👍"); !reflect.DeepEqual(again, got) {
			t.Fatalf("the same reaction again: got %+v, want %+v (idempotent)", again, got)
		}
		react(carol, room, msg.ID, "🇫🇷")
		got = react(carol, room, msg.ID, "👍")
		want := []api.Reaction{{Emoji: "👍", Count: 2, Me: &yes}, {Emoji: "🇫🇷", Count: 1, Me: &yes}}
		if !reflect.DeepEqual(got.Reactions, want) {
			t.Fatalf("tally: got %+v, want %+v (order of first use)", got.Reactions, want)
		}
		wantBob := []api.Reaction{{Emoji: "👍", Count: 2, Me: &yes}, {Emoji: "🇫🇷", Count: 1, Me: &no}}
		if h := bob.History(room, ""); len(h.Messages) != 1 || !reflect.DeepEqual(h.Messages[0].Reactions, wantBob) {
			t.Fatalf("history as bob: got %+v, want reactions %+v", h.Messages, wantBob)
		}
		var one api.RoomMessage
		bob.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/messages/"+msg.ID, nil, &one)
		if !reflect.DeepEqual(one.Reactions, wantBob) {
			t.Fatalf("one message as bob: got %+v, want %+v", one.Reactions, wantBob)
		}
		reactionEvents(t, st, msg.ID, tally(want), 5*time.Second)

		// Removing one's own: idempotent, and only one's own.
		for range 2 {
			bob.Must(http.StatusNoContent, "DELETE", reactPath(room, msg.ID, "👍"), nil, nil)
		}
		bob.Must(http.StatusNoContent, "DELETE", reactPath(room, msg.ID, "🇫🇷"), nil, nil) // carol's stays
		// The order is that of the earliest reaction standing: carol's 👍
		// came after her 🇫🇷.
		want = []api.Reaction{{Emoji: "🇫🇷", Count: 1, Me: &yes}, {Emoji: "👍", Count: 1, Me: &yes}}
		if got := react(carol, room, msg.ID, "👍"); !reflect.DeepEqual(got.Reactions, want) {
			t.Fatalf("after bob removed his: got %+v, want %+v", got.Reactions, want)
		}
		reactionEvents(t, st, msg.ID, tally(want), 5*time.Second)

		// The emoji check, through the path.
		for _, bad := range []string{"a", "👍👍", "1", "👨🏻\u200d👩🏻\u200d👧\u200d👦", "\x01"} {
			coreProblem(t, bob.Do("PUT", reactPath(room, msg.ID, bad), nil), http.StatusBadRequest, "invalid")
		}
		// The cap: 20 distinct emoji, then a 21st is a conflict; one of the
		// 20 may still be added by someone else.
		capped := bob.Send(room, "many")
		emoji := []string{"😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰", "😗", "😙", "😚", "🙂", "🤗"}
		for _, e := range emoji {
			react(bob, room, capped.ID, e)
		}
		coreProblem(t, carol.Do("PUT", reactPath(room, capped.ID, "🤩"), nil), http.StatusConflict, "conflict")
		if got := react(carol, room, capped.ID, "🤗"); len(got.Reactions) != 20 || got.Reactions[19].Count != 2 {
			t.Fatalf("one of the 20 again: got %+v, want 20 emoji, the last counted twice", got.Reactions)
		}

		// Clearing: moderators and above, under the rank rule.
		coreProblem(t, carol.Do("DELETE", reactPath(room, capped.ID, ""), nil), http.StatusForbidden, "forbidden")
		dave.Must(http.StatusNoContent, "DELETE", reactPath(room, capped.ID, ""), nil, nil)
		if h := bob.History(room, "?limit=1"); len(h.Messages[0].Reactions) != 0 {
			t.Fatalf("after a clear: got %+v, want none", h.Messages[0].Reactions)
		}
		reactionEvents(t, st, capped.ID, []api.ReactionCount{}, 5*time.Second)
		owners := alice.Send(room, "the owner's")
		react(bob, room, owners.ID, "🎉")
		coreProblem(t, dave.Do("DELETE", reactPath(room, owners.ID, ""), nil), http.StatusForbidden, "forbidden")
		alice.Must(http.StatusNoContent, "DELETE", reactPath(room, owners.ID, ""), nil, nil)

		// Checked like a send: a muted participant may not react.
		dave.Must(http.StatusOK, "PUT", "/api/v1/rooms/"+room+"/mutes/carol", map[string]int{"duration_seconds": 60}, nil)
		coreProblem(t, carol.Do("PUT", reactPath(room, msg.ID, "🎉"), nil), http.StatusForbidden, "muted")

		// A deleted message loses its reactions, and reacting to it is a 404.
		bob.Must(http.StatusNoContent, "DELETE", "/api/v1/rooms/"+room+"/messages/"+msg.ID, nil, nil)
		coreProblem(t, bob.Do("PUT", reactPath(room, msg.ID, "👍"), nil), http.StatusNotFound, "not_found")
		coreProblem(t, bob.Do("PUT", reactPath(room, "nosuchmessage", "👍"), nil), http.StatusNotFound, "not_found")
		bob.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/messages/"+msg.ID, nil, &one)
		if !one.IsDeleted || len(one.Reactions) != 0 {
			t.Fatalf("deleted message: got deleted %v reactions %+v, want a tombstone without reactions", one.IsDeleted, one.Reactions)
		}
	})
}

// TestReactionFloodLimit: reactions have their own flood bucket: past it a
// 429 rate_limited with Retry-After, while sends still go through; a
// repeated reaction costs nothing; moderators are exempt.
func TestReactionFloodLimit(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{ReactionRate: models.Rate{Count: 3, Per: time.Minute}})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	msg := alice.Send(room, "hi")
	for _, e := range []string{"👍", "🎉", "🔥"} {
		react(bob, room, msg.ID, e)
	}
	react(bob, room, msg.ID, "👍") // no change, no token
	r := bob.Do("PUT", reactPath(room, msg.ID, "😀"), nil)
	coreProblem(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	coreProblem(t, bob.Do("DELETE", reactPath(room, msg.ID, "👍"), nil), http.StatusTooManyRequests, "rate_limited")
	bob.Send(room, "sends have their own bucket")
	for _, e := range []string{"😀", "😁", "😂", "🤣"} {
		react(alice, room, msg.ID, e) // the owner is exempt
	}
}

// TestReactionsInRetriedSend: a send retried with its client_id answers with
// the original as it is now, its reactions included, on either database (on
// PostgreSQL the retry goes through the batched send path).
func TestReactionsInRetriedSend(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, s *Server) {
		alice, bob, carol := s.Client(t, "alice"), s.Client(t, "bob"), s.Client(t, "carol")
		room := coreRoom(t, alice, bob, carol)
		path := "/api/v1/rooms/" + room + "/messages"
		sent := map[string]string{"content": "retry me", "client_id": "c-1"}
		var first, again api.RoomMessage
		bob.Must(http.StatusCreated, "POST", path, sent, &first)
		react(carol, room, first.ID, "👍")
		bob.Must(http.StatusOK, "POST", path, sent, &again)
		no := false
		if want := []api.Reaction{{Emoji: "👍", Count: 1, Me: &no}}; again.ID != first.ID || !reflect.DeepEqual(again.Reactions, want) {
			t.Fatalf("retried send: got %s with reactions %+v, want %s with %+v", again.ID, again.Reactions, first.ID, want)
		}
	})
}

// TestReactionsPendingAtRestart: a tally still waiting for its second when
// the server stops is not lost: the restarted server emits it, and a stream
// resuming from before it gets the final tally.
func TestReactionsPendingAtRestart(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob, carol := s.Client(t, "alice"), s.Client(t, "bob"), s.Client(t, "carol")
	room := coreRoom(t, alice, bob, carol)
	msg := bob.Send(room, "react, then restart")
	st := alice.Stream(room, "Last-Event-ID", fmt.Sprint(msg.Seq))
	react(bob, room, msg.ID, "👍")
	reactionEvents(t, st, msg.ID, []api.ReactionCount{{Emoji: "👍", Count: 1}}, 5*time.Second)
	react(carol, room, msg.ID, "👍") // within the second: its event waits
	st.Close()
	s.Restart(t, Options{})
	st = alice.Stream(room, "Last-Event-ID", fmt.Sprint(msg.Seq))
	reactionEvents(t, st, msg.ID, []api.ReactionCount{{Emoji: "👍", Count: 2}}, 5*time.Second)
}
