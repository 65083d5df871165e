package tests

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// startProcess starts the server binary (built once, see serverBinary) on the
// SQLite file db; env adds or overrides CHAT_* settings. The returned cluster
// restarts it on the same file and signs tokens it accepts.
func startProcess(t *testing.T, db string, env ...string) (*Cluster, *Node) {
	t.Helper()
	serverBinary(t)
	c := &Cluster{t: t, DB: db, Secret: []byte(randomHex(24)), Env: env}
	n, err := c.start("node")
	if err != nil {
		t.Fatal(err)
	}
	c.Nodes = []*Node{n}
	return c, n
}

// crashAck is an acknowledged send.
type crashAck struct {
	id  string
	seq int64
}

// Every send the server acknowledged (201) before it was killed with SIGKILL
// mid-burst is there after a restart on the same file, exactly once, and the
// room's seqs have no hole. Sends whose answer was lost are either there or
// not; retried with their client_id they are never there twice.
func TestCrashAcknowledgedSurviveSIGKILL(t *testing.T) {
	for _, sync := range []string{"normal", "full"} {
		t.Run("synchronous="+sync, func(t *testing.T) { crashRun(t, sync) })
	}
}

func crashRun(t *testing.T, syncMode string) {
	c, n := startProcess(t, filepath.Join(t.TempDir(), "chat.db"), "CHAT_SQLITE_SYNC="+syncMode)
	tok := c.Token(t, "alice")
	room := "crash-room"
	if _, err := call(n.URL, tok, "POST", "/api/v1/rooms", map[string]string{"id": room, "name": "Crash"}, nil); err != nil {
		t.Fatal(err)
	}
	msgs := "/api/v1/rooms/" + room + "/messages"

	// Four posters at a steady 100 sends a second each.
	const posters, interval = 4, 10 * time.Millisecond
	var mu sync.Mutex
	acked := map[string]crashAck{} // client_id → what the 201 said
	var unknown []string           // client_ids whose answer never came
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < posters; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				cid := fmt.Sprintf("p%d-%d", p, k)
				var m api.RoomMessage
				status, err := call(n.URL, tok, "POST", msgs, map[string]string{"content": "crash " + cid, "client_id": cid}, &m)
				mu.Lock()
				switch {
				case status == http.StatusCreated:
					acked[cid] = crashAck{m.ID, m.Seq}
				case err != nil && status == 0:
					unknown = append(unknown, cid)
				default:
					t.Errorf("send %s: %d %v", cid, status, err)
				}
				mu.Unlock()
			}
		}()
	}
	waitFor(t, 30*time.Second, "300 acknowledged sends", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 300
	})
	n.Kill() // mid-burst: requests are in flight
	close(stop)
	wg.Wait()
	if n.cmd.ProcessState.ExitCode() != -1 {
		t.Fatalf("the server exited by itself (%v), not by SIGKILL", n.cmd.ProcessState)
	}

	n2, err := c.start("restarted")
	if err != nil {
		t.Fatal(err)
	}
	history := func() (map[string]api.RoomMessage, int64) {
		t.Helper()
		byClient := map[string]api.RoomMessage{}
		ids := map[string]bool{}
		var after, head int64
		for {
			var page api.HistoryPage
			if _, err := call(n2.URL, tok, "GET", msgs+"?limit=100&after="+strconv.FormatInt(after, 10), nil, &page); err != nil {
				t.Fatal(err)
			}
			head = page.HeadSeq
			for _, m := range page.Messages {
				if m.ClientID == nil || byClient[*m.ClientID].ID != "" || ids[m.ID] {
					t.Fatalf("message %s (client_id %v) is there twice or without its client_id", m.ID, m.ClientID)
				}
				byClient[*m.ClientID], ids[m.ID] = m, true
				after = m.Seq
			}
			if !page.HasMore {
				return byClient, head
			}
		}
	}
	found, head := history()
	for cid, a := range acked {
		m, ok := found[cid]
		if !ok {
			t.Errorf("acknowledged send %s (seq %d) is gone", cid, a.seq)
		} else if m.ID != a.id || m.Seq != a.seq {
			t.Errorf("acknowledged send %s: now id %s seq %d, was %s %d", cid, m.ID, m.Seq, a.id, a.seq)
		}
	}

	// The room's event log has no hole: a replay from 0 is 1, 2, … head.
	conn, err := dialStream(n2.URL, tok, room, "0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	created := 0
	for want := int64(1); want <= head; want++ {
		select {
		case ev := <-conn.Events:
			if ev.ID != strconv.FormatInt(want, 10) {
				t.Fatalf("replay: event %q (%s), want seq %d", ev.ID, ev.Type, want)
			}
			if ev.Type == "message.created" {
				created++
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("replay stopped before seq %d of %d", want, head)
		}
	}
	if created != len(found) {
		t.Fatalf("replay holds %d message.created events, history %d messages", created, len(found))
	}

	// Lost answers, retried: 200 if the send had committed, 201 if not; never
	// a second copy.
	committedUnacked, retried := 0, 0
	for _, cid := range unknown {
		status, err := call(n2.URL, tok, "POST", msgs, map[string]string{"content": "crash " + cid, "client_id": cid}, nil)
		switch {
		case status == http.StatusOK:
			committedUnacked++
		case status == http.StatusCreated:
			retried++
		default:
			t.Fatalf("retry of %s: %d %v", cid, status, err)
		}
		if _, ok := found[cid]; ok != (status == http.StatusOK) {
			t.Fatalf("retry of %s: %d, but it was%s in the history", cid, status, map[bool]string{true: "", false: " not"}[ok])
		}
	}
	final, _ := history()
	if want := len(found) + retried; len(final) != want {
		t.Fatalf("after retries: %d messages, want %d", len(final), want)
	}
	t.Logf("synchronous=%s: %d acknowledged, all present once; %d answers lost in the kill (%d had committed, %d had not); head seq %d, no hole",
		syncMode, len(acked), len(unknown), committedUnacked, retried, head)
}
