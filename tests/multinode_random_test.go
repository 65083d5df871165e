package tests

// Invariants under concurrency: commit order equals seq order on PostgreSQL
// with writers on several nodes, and a randomized run of users posting,
// editing, deleting, muting and reconnecting keeps every stream equal to the
// event log.

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// TestMultiNodeCommitOrder: writers on three nodes post, edit and delete in
// one room while a reader takes snapshot after snapshot of PostgreSQL. The
// room's counter advances inside each writing transaction under the room's
// row lock, so no snapshot may ever see a seq committed before a lower one:
// every snapshot holds events 1..last_seq exactly, and a message row for each
// message.created event.
func TestMultiNodeCommitOrder(t *testing.T) {
	cl := StartCluster(t, 3, "")
	writers := []string{"w0", "w1", "w2", "w3", "w4", "w5"}
	room := setupRoom(t, cl, "alice", writers...)
	head := headSeq(t, cl, 0, cl.Token(t, "alice"), room)
	var recs []*recorder
	for i := range cl.Nodes {
		recs = append(recs, followStream(t, cl, writers[i], room, i, head))
	}

	db, err := sql.Open("pgx", cl.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes atomic.Int64
	for i, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token, node := cl.Token(t, w), i%len(cl.Nodes)
			base := cl.Nodes[node].URL + "/api/v1/rooms/" + room + "/messages"
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				a, _, err := sendRetry(cl, node, token, room, fmt.Sprintf("%s-%d", w, k), "x")
				if err != nil {
					t.Errorf("%s: %v", w, err)
					return
				}
				switch k % 4 {
				case 1:
					_, err = call(cl.Nodes[node].URL, token, "PATCH", "/api/v1/rooms/"+room+"/messages/"+a.ID, map[string]string{"content": "y"}, nil)
				case 3:
					_, err = call(cl.Nodes[node].URL, token, "DELETE", "/api/v1/rooms/"+room+"/messages/"+a.ID, nil, nil)
				}
				if err != nil {
					t.Errorf("%s: %s: %v", w, base, err)
					return
				}
				writes.Add(1)
			}
		}()
	}
	var snapshots int
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && !t.Failed() {
		var last, count, maxSeq, minSeq, created, messages int64
		// One statement, one snapshot.
		err := db.QueryRowContext(context.Background(), `
			SELECT r.last_seq,
			       (SELECT count(*) FROM events e WHERE e.room_id = r.id),
			       (SELECT coalesce(max(seq), 0) FROM events e WHERE e.room_id = r.id),
			       (SELECT coalesce(min(seq), 0) FROM events e WHERE e.room_id = r.id),
			       (SELECT count(*) FROM events e WHERE e.room_id = r.id AND e.type = 'message.created'),
			       (SELECT count(*) FROM messages m WHERE m.room_id = r.id)
			FROM rooms r WHERE r.id = $1`, room).Scan(&last, &count, &maxSeq, &minSeq, &created, &messages)
		if err != nil {
			t.Fatal(err)
		}
		if count != last || maxSeq != last || minSeq != 1 || created != messages {
			t.Errorf("snapshot %d: last_seq %d, events %d (seqs %d..%d), message.created %d, messages %d",
				snapshots, last, count, minSeq, maxSeq, created, messages)
		}
		snapshots++
		time.Sleep(time.Millisecond) // leave the writers some of the two cores
	}
	close(stop)
	wg.Wait()
	t.Logf("%d snapshots of %d writes", snapshots, writes.Load())
	if snapshots < 50 || writes.Load() < 50 {
		t.Errorf("too little happened: %d snapshots, %d writes", snapshots, writes.Load())
	}
	if t.Failed() {
		return
	}
	last := headSeq(t, cl, 0, cl.Token(t, "alice"), room)
	for _, r := range recs {
		r.waitFor(t, last, 10*time.Second)
	}
	log := fullLog(t, cl, 1, room)
	for _, r := range recs {
		r.check(t, log)
	}
}

// randomDuration bounds the randomized run; the whole test takes about
// twice as long.
const randomDuration = 10 * time.Second

// TestMultiNodeRandomized: users on three nodes post, edit, delete, mute,
// read history and move their streams between nodes at random. Afterwards
// every acknowledged message is in the history exactly once, and every
// user's stream, across all its connections, is gap-free, strictly
// increasing and equal to the event log from where it started.
func TestMultiNodeRandomized(t *testing.T) {
	cl := StartCluster(t, 3, "")
	participants := []string{"p0", "p1", "p2", "p3"}
	users := append([]string{"alice", "mia"}, participants...)
	room := setupRoom(t, cl, "alice", users[1:]...)
	cl.Client(t, "alice", 1).Must(http.StatusOK, "PUT", "/api/v1/rooms/"+room+"/participants/mia/role", map[string]string{"role": "moderator"}, nil)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	recs := map[string]*recorder{}
	for i, u := range users {
		node := i % len(cl.Nodes)
		recs[u] = followStream(t, cl, u, room, node, headSeq(t, cl, node, cl.Token(t, u), room))
	}
	var (
		mu   sync.Mutex
		acks []acked
		ops  = map[string]int{}
	)
	count := func(op string) {
		mu.Lock()
		ops[op]++
		mu.Unlock()
	}
	deadline := time.Now().Add(randomDuration)
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			token := cl.Token(t, u)
			moderator := u == "alice" || u == "mia"
			var mine []acked
			for k := 0; time.Now().Before(deadline); k++ {
				node := rng.IntN(len(cl.Nodes))
				base := cl.Nodes[node].URL
				msgs := "/api/v1/rooms/" + room + "/messages"
				roll := rng.IntN(100)
				switch {
				case roll < 40:
					a, status, err := sendRetry(cl, node, token, room, fmt.Sprintf("%s-%d", u, k), fmt.Sprintf("%s %d", u, k))
					switch {
					case err == nil:
						mine = append(mine, a)
						mu.Lock()
						acks = append(acks, a)
						mu.Unlock()
						count("post")
					case status == http.StatusForbidden:
						count("post refused (muted)")
					default:
						t.Errorf("%s: post: %v", u, err)
					}
				case roll < 52 && len(mine) > 0:
					m := mine[rng.IntN(len(mine))]
					status, err := call(base, token, "PATCH", msgs+"/"+m.ID, map[string]string{"content": fmt.Sprintf("%s edit %d", u, k)}, nil)
					if err != nil && status != http.StatusNotFound && status != http.StatusForbidden {
						t.Errorf("%s: edit: %v", u, err)
					}
					count("edit")
				case roll < 60 && len(mine) > 0:
					m := mine[rng.IntN(len(mine))]
					if _, err := call(base, token, "DELETE", msgs+"/"+m.ID, nil, nil); err != nil {
						t.Errorf("%s: delete: %v", u, err)
					}
					count("delete")
				case roll < 72:
					recs[u].Move(rng.IntN(len(cl.Nodes)))
					count("reconnect")
				case roll < 82:
					var p api.HistoryPage
					if _, err := call(base, token, "GET", msgs+"?limit=20", nil, &p); err != nil {
						t.Errorf("%s: history: %v", u, err)
					}
					for j := 1; j < len(p.Messages); j++ {
						if p.Messages[j].Seq >= p.Messages[j-1].Seq {
							t.Errorf("%s: history page out of order: %d then %d", u, p.Messages[j-1].Seq, p.Messages[j].Seq)
						}
					}
					count("history")
				case roll < 88 && moderator:
					target := participants[rng.IntN(len(participants))]
					if rng.IntN(3) == 0 {
						_, err := call(base, token, "DELETE", "/api/v1/rooms/"+room+"/mutes/"+target, nil, nil)
						if err != nil {
							t.Errorf("%s: unmute %s: %v", u, target, err)
						}
						count("unmute")
					} else {
						_, err := call(base, token, "PUT", "/api/v1/rooms/"+room+"/mutes/"+target,
							map[string]int{"duration_seconds": 1}, nil)
						if err != nil {
							t.Errorf("%s: mute %s: %v", u, target, err)
						}
						count("mute")
					}
				}
				time.Sleep(time.Duration(5+rng.IntN(30)) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	t.Logf("operations: %v", ops)
	if t.Failed() {
		return
	}
	last := headSeq(t, cl, 2, cl.Token(t, "alice"), room)
	for _, u := range users {
		recs[u].waitFor(t, last, 15*time.Second)
	}
	log := fullLog(t, cl, 0, room)
	conns := 0
	for _, u := range users {
		recs[u].check(t, log)
		conns += recs[u].conns
	}
	t.Logf("%d events, %d acknowledged messages, %d stream connections", len(log), len(acks), conns)
	history := allMessages(t, cl, 1, room)
	checkAcked(t, history, acks)
	created := 0
	for _, e := range log {
		if e.Type == "message.created" {
			created++
		}
	}
	if len(history) != len(acks) || created != len(acks) {
		t.Errorf("%d acknowledged, %d in history, %d message.created in the log", len(acks), len(history), created)
	}
	if slices.ContainsFunc(log, func(e logEvent) bool { return e.Type == "history.reset" }) {
		t.Error("history.reset in the log")
	}
}
