package tests

// Faults: Redis killed, paused or crashed while posts go on, and a node killed
// with SIGKILL in the middle of a burst. Redis is only a hint, so streams
// still end up with every event, once, in order; PostgreSQL is the truth, so
// every acknowledged message survives.

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// poster sends messages from user, round robin over the nodes, until stop;
// pause is the time between two sends.
type poster struct {
	mu   sync.Mutex
	acks []acked
}

func (p *poster) run(t *testing.T, cl *Cluster, user, room string, pause time.Duration, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	token := cl.Token(t, user)
	for k := 0; ; k++ {
		select {
		case <-stop:
			return
		default:
		}
		a, _, err := sendRetry(cl, k%len(cl.Nodes), token, room, fmt.Sprintf("%s-%d", user, k), fmt.Sprintf("%s says %d", user, k))
		if err != nil {
			t.Errorf("%s: post %d: %v", user, k, err)
			return
		}
		p.mu.Lock()
		p.acks = append(p.acks, a)
		p.mu.Unlock()
		time.Sleep(pause)
	}
}

func (p *poster) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acks)
}

// TestMultiNodeRedisFaults: while users keep posting on both nodes, Redis's
// subscriber connections are killed (go-redis resubscribes silently), Redis
// is paused, then it crashes and comes back empty, and crashes again for
// good. Every stream still ends with the complete sequence, without gap or
// duplicate.
func TestMultiNodeRedisFaults(t *testing.T) {
	rp := startRedis(t)
	cl := StartCluster(t, 2, rp.URL())
	users := []string{"u0", "u1"}
	room := setupRoom(t, cl, "alice", users...)
	head := headSeq(t, cl, 0, cl.Token(t, "alice"), room)
	var recs []*recorder
	for i := range cl.Nodes {
		recs = append(recs, followStream(t, cl, "alice", room, i, head), followStream(t, cl, users[i], room, i, head))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	posters := make([]*poster, len(users))
	for i, u := range users {
		posters[i] = &poster{}
		wg.Add(1)
		go posters[i].run(t, cl, u, room, 15*time.Millisecond, stop, &wg)
	}
	step := func(what string, d time.Duration, fault func() error) {
		if fault != nil {
			if err := fault(); err != nil {
				t.Errorf("%s: %v", what, err)
			}
		}
		time.Sleep(d)
		t.Logf("%s; %d messages so far", what, posters[0].count()+posters[1].count())
	}
	step("warm up", 700*time.Millisecond, nil)
	step("subscriber connections killed", time.Second, func() error {
		_, err := rp.Do("CLIENT", "KILL", "TYPE", "pubsub")
		return err
	})
	step("redis paused for 1.5 s", 2*time.Second, func() error {
		_, err := rp.Do("CLIENT", "PAUSE", "1500", "ALL")
		return err
	})
	step("redis crashed", 1500*time.Millisecond, func() error { rp.Kill(); return nil })
	step("redis back, empty", 1500*time.Millisecond, func() error { rp.Start(); return nil })
	step("redis crashed for good", time.Second, func() error { rp.Kill(); return nil })
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	// The last posts, all on node0, have no later one on node1 to reveal
	// their loss there: only the periodic check brings them.
	token := cl.Token(t, users[0])
	for k := range 3 {
		a, _, err := sendRetry(cl, 0, token, room, fmt.Sprintf("last-%d", k), "last")
		if err != nil {
			t.Fatal(err)
		}
		posters[0].acks = append(posters[0].acks, a)
	}
	last := headSeq(t, cl, 0, cl.Token(t, "alice"), room)
	for _, r := range recs {
		r.waitFor(t, last, 10*time.Second)
	}
	log := fullLog(t, cl, 1, room)
	for i, r := range recs {
		r.name = fmt.Sprintf("%s on node%d", r.name, i/2)
		r.check(t, log)
	}
	checkAcked(t, allMessages(t, cl, 0, room), slices.Concat(posters[0].acks, posters[1].acks))
	for _, n := range cl.Nodes {
		if !strings.Contains(n.logs.tail(nodeLogTail), "redis subscription lost") && !n.logs.fileContains("redis subscription lost") {
			t.Errorf("%s never noticed it lost its subscription", n.Name)
		}
	}
}

// TestMultiNodeKill9: a node dies by SIGKILL in the middle of a burst of posts
// on every node. Every acknowledged message is in the history exactly once
// (senders retry on another node with the same client id), and the streams
// that were on the dead node resume on another one without a gap.
func TestMultiNodeKill9(t *testing.T) {
	cl := StartCluster(t, 3, "")
	users := []string{"u0", "u1", "u2"}
	room := setupRoom(t, cl, "alice", users...)
	head := headSeq(t, cl, 0, cl.Token(t, "alice"), room)
	victims := []*recorder{followStream(t, cl, "u0", room, 2, head), followStream(t, cl, "u1", room, 2, head)}
	others := []*recorder{followStream(t, cl, "u2", room, 0, head), followStream(t, cl, "alice", room, 1, head)}

	const perUser = 60
	var total atomic.Int64
	acks, wait := burst(t, cl, room, users, perUser, func() { total.Add(1) })
	waitFor(t, 30*time.Second, "a third of the burst", func() bool { return total.Load() >= perUser })
	cl.Nodes[2].Kill()
	t.Logf("node2 killed after %d acknowledged messages", total.Load())
	wait()
	if t.Failed() {
		return
	}
	last := headSeq(t, cl, 0, cl.Token(t, "alice"), room)
	for _, r := range append(victims, others...) {
		r.waitFor(t, last, 15*time.Second)
	}
	log := fullLog(t, cl, 1, room)
	for _, r := range victims {
		r.mu.Lock()
		conns, node := r.conns, r.node
		r.mu.Unlock()
		if conns < 2 || node == 2 {
			t.Errorf("%s: %d connections, now on node%d; want a resume on another node", r.name, conns, node)
		}
		r.check(t, log)
	}
	for _, r := range others {
		r.check(t, log)
	}
	all := slices.Concat(acks...)
	if len(all) != perUser*len(users) {
		t.Fatalf("%d acknowledged, want %d", len(all), perUser*len(users))
	}
	history := allMessages(t, cl, 0, room)
	checkAcked(t, history, all)
	if len(history) != len(all) {
		t.Errorf("history holds %d messages, %d were sent", len(history), len(all))
	}
}
