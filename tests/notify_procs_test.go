package tests

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// webhookEnv is the configuration of server processes posting to addr.
func webhookEnv(addr string) []string {
	return []string{"CHAT_WEBHOOK_URL=http://" + addr + "/hook", "CHAT_WEBHOOK_SECRET=" + webhookSecret}
}

// A node killed with SIGKILL right after a send that mentions someone was
// acknowledged, before any receiver took the notification (nothing listened
// at the webhook's address), delivers it once restarted on the same
// database: the outbox row committed with the message.
func TestWebhookSurvivesSIGKILL(t *testing.T) {
	addr := freeAddr(t)
	c, n := startProcess(t, filepath.Join(t.TempDir(), "chat.db"), webhookEnv(addr)...)
	t.Cleanup(c.stopAll)
	alice, bob := c.Token(t, "alice"), c.Token(t, "bob")
	room := "kill-room"
	if status, err := call(n.URL, alice, "POST", "/api/v1/rooms", map[string]string{"id": room, "name": "Kill"}, nil); status != http.StatusCreated {
		t.Fatalf("create room: %d %v", status, err)
	}
	if status, err := call(n.URL, bob, "POST", "/api/v1/rooms/"+room+"/participants", nil, nil); status != http.StatusCreated {
		t.Fatalf("join: %d %v", status, err)
	}
	var m api.RoomMessage
	status, err := call(n.URL, alice, "POST", "/api/v1/rooms/"+room+"/messages", map[string]any{"content": "@bob!", "mentions": []string{"bob"}}, &m)
	if status != http.StatusCreated {
		t.Fatalf("send: %d %v", status, err)
	}
	n.Kill()

	rcv := newReceiver(t, addr)
	if _, err := c.start("restarted"); err != nil {
		t.Fatal(err)
	}
	got := rcv.wait(1, 15*time.Second)
	if d := got[0].mentioned(t); d.UserID != "bob" || d.Message.ID != m.ID {
		t.Errorf("after the restart: %s, want bob's mention in %s", got[0].Data, m.ID)
	}
}

// Two nodes on one PostgreSQL database, each with its sender, deliver every
// notification exactly once between them, with a receiver slow enough that
// both claim at once: each id arrives once, and the nodes' delivered
// counters add up to the notifications made.
func TestWebhookTwoNodesDeliverEachOnce(t *testing.T) {
	rcv := newReceiver(t, "")
	rcv.delay = 20 * time.Millisecond
	c := StartCluster(t, 2, "", webhookEnv(rcv.srv.Listener.Addr().String())...)
	alice0, alice1 := c.Client(t, "alice", 0), c.Client(t, "alice", 1)
	bob := c.Client(t, "bob", 1)
	room := uniqueRoom(t)
	alice0.CreateRoom(room)
	bob.Join(room)
	const n = 40
	for i := range n {
		from := alice0
		if i%2 == 1 {
			from = alice1
		}
		from.sendMentions(room, fmt.Sprintf("@bob %d", i), "bob")
	}
	rcv.wait(n, 30*time.Second)
	delivered := func() float64 {
		return coreMetric(t, c.Server(0), `chat_webhook_deliveries_total{outcome="delivered"}`) +
			coreMetric(t, c.Server(1), `chat_webhook_deliveries_total{outcome="delivered"}`)
	}
	waitFor(t, 5*time.Second, "both nodes' counters", func() bool { return delivered() >= n })
	if r := rcv.repeats(); len(r) > 0 {
		t.Errorf("ids received more than once: %v", r)
	}
	if got := delivered(); got != n {
		t.Errorf("the nodes delivered %v between them, want %d", got, n)
	}
	t.Logf("node0 delivered %v, node1 %v", coreMetric(t, c.Server(0), `chat_webhook_deliveries_total{outcome="delivered"}`),
		coreMetric(t, c.Server(1), `chat_webhook_deliveries_total{outcome="delivered"}`))
}
