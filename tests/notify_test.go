package tests

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// A mention reaches the webhook as message.mentioned, one per mentioned
// user but the sender, signed with the shared secret (the receiver checks
// it), carrying the message; an edit notifies only the users it newly
// mentions; closing the room sends room.closed.
func TestWebhookMentionsAndClose(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, "")
	s := StartServer(t, Options{Webhook: rcv.options()})
	alice, bob, carol, dave := s.Client(t, "alice"), s.Client(t, "bob"), s.Client(t, "carol"), s.Client(t, "dave")
	room := coreRoom(t, alice, bob, carol, dave)
	msgs := "/api/v1/rooms/" + room + "/messages"

	m := alice.sendMentions(room, "hi @bob @carol, says @alice", "bob", "carol", "alice")
	got := rcv.wait(2, 5*time.Second)
	var users []string
	for _, n := range got {
		d := n.mentioned(t)
		users = append(users, d.UserID)
		if n.Type != "message.mentioned" || n.RoomID != room || n.Timestamp != m.Timestamp || d.Message.ID != m.ID ||
			d.Message.Content != m.Content || !slices.Equal(d.Message.Mentions, m.Mentions) {
			t.Errorf("notification %+v (data %s), want message.mentioned of %+v", n, n.Data, m)
		}
	}
	if slices.Sort(users); !slices.Equal(users, []string{"bob", "carol"}) {
		t.Errorf("notified %v, want bob and carol (not alice, who mentioned herself)", users)
	}

	// The edit keeps bob and adds dave: dave alone is notified.
	alice.Must(http.StatusOK, "PATCH", msgs+"/"+m.ID, map[string]any{"content": "hi @bob @dave", "mentions": []string{"bob", "dave"}}, nil)
	got = rcv.wait(3, 5*time.Second)
	if d := got[2].mentioned(t); d.UserID != "dave" || d.Message.Content != "hi @bob @dave" || d.Message.EditedAt == nil {
		t.Errorf("after the edit: %s, want dave notified of the edited message", got[2].Data)
	}

	alice.Must(http.StatusNoContent, "DELETE", "/api/v1/rooms/"+room, nil, nil)
	got = rcv.wait(4, 5*time.Second)
	if n := got[3]; n.Type != "room.closed" || n.RoomID != room || string(n.Data) != `{"by":"alice"}` {
		t.Errorf("room closed: got %+v data %s, want room.closed by alice", n, n.Data)
	}
	if len(rcv.distinct()) != 4 || rcv.forged != 0 {
		t.Errorf("got %d notifications (%d badly signed), want 4 (0)", len(rcv.distinct()), rcv.forged)
	}
}

// A receiver that answers 503 for a while gets every notification once it
// is back, each id once; meanwhile /metrics shows the failures, the
// outbox's depth and the age of its oldest notification, and afterwards the
// deliveries and an empty outbox. A mention whose message is deleted before
// it could be delivered is not sent at all.
func TestWebhookReceiverDownThenBack(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, "")
	rcv.setDown(true)
	s := StartServer(t, Options{Webhook: rcv.options()})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	const n = 10
	var ids []string
	for i := range n {
		ids = append(ids, alice.sendMentions(room, "ping @bob "+strings.Repeat("!", i), "bob").ID)
	}
	deleted := alice.sendMentions(room, "oops @bob", "bob")
	waitFor(t, 5*time.Second, "failed deliveries", func() bool {
		return coreMetric(t, s, `chat_webhook_deliveries_total{outcome="failed"}`) >= n
	})
	alice.Must(http.StatusNoContent, "DELETE", "/api/v1/rooms/"+room+"/messages/"+deleted.ID, nil, nil)
	waitFor(t, 5*time.Second, "the outbox's depth and age", func() bool {
		return coreMetric(t, s, "chat_webhook_outbox_depth") == n && coreMetric(t, s, "chat_webhook_outbox_oldest_age_seconds") > 0
	})
	if got := coreMetric(t, s, `chat_webhook_deliveries_total{outcome="delivered"}`); got != 0 {
		t.Errorf("delivered while the receiver was down: %v", got)
	}

	rcv.setDown(false)
	got := rcv.wait(n, 10*time.Second)
	var msgIDs []string
	for _, nt := range got {
		msgIDs = append(msgIDs, nt.mentioned(t).Message.ID)
	}
	slices.Sort(msgIDs)
	slices.Sort(ids)
	if !slices.Equal(msgIDs, ids) {
		t.Errorf("delivered mentions of %v, want %v (and not the deleted %s)", msgIDs, ids, deleted.ID)
	}
	waitFor(t, 5*time.Second, "an empty outbox", func() bool {
		return coreMetric(t, s, "chat_webhook_outbox_depth") == 0 && coreMetric(t, s, "chat_webhook_outbox_oldest_age_seconds") == 0
	})
	if r := rcv.repeats(); len(r) > 0 {
		t.Errorf("ids received more than once: %v", r)
	}
	if got := coreMetric(t, s, `chat_webhook_deliveries_total{outcome="delivered"}`); got != n {
		t.Errorf("delivered: %v, want %d", got, n)
	}
}

// CHAT_WEBHOOK_CONTENT=off: the notification names the message but not its
// text.
func TestWebhookWithoutContent(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, "")
	s := StartServer(t, Options{Webhook: rcv.options(), WebhookNoContent: true})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	m := alice.sendMentions(room, "a secret for @bob", "bob")
	got := rcv.wait(1, 5*time.Second)
	d := got[0].mentioned(t)
	if d.Message.ID != m.ID || d.Message.Content != "" || strings.Contains(string(got[0].Data), "secret") {
		t.Errorf("notification data %s, want message %s without its text", got[0].Data, m.ID)
	}
}

// A notification the receiver refuses for longer than the give-up age is
// dropped: logged at error, counted as gave_up, gone from the outbox.
func TestWebhookGivesUp(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, "")
	rcv.setDown(true)
	o := rcv.options()
	o.GiveUp = 300 * time.Millisecond
	s := StartServer(t, Options{Webhook: o})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	alice.sendMentions(room, "@bob?", "bob")
	waitFor(t, 5*time.Second, "giving up", func() bool {
		return coreMetric(t, s, `chat_webhook_deliveries_total{outcome="gave_up"}`) == 1
	})
	waitFor(t, 5*time.Second, "an empty outbox", func() bool { return coreMetric(t, s, "chat_webhook_outbox_depth") == 0 })
	if !strings.Contains(s.Logs.String(), `"level":"ERROR","msg":"webhook: gave up on a notification"`) {
		t.Errorf("no error logged for the notification given up")
	}
}
