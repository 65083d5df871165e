package tests

// Many nodes: real server processes sharing one PostgreSQL database and one
// Redis. A client may post on one node and listen on another, and the
// ordering and resumption rules hold exactly as on one node.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// logEvent is what two views of one room event must agree on: its seq, its
// type and the message it concerns. (Not its data: a message deleted since
// was erased from the log, but not from streams that got it before.)
type logEvent struct {
	Seq   int64
	Type  string
	MsgID string
}

func (e logEvent) String() string { return fmt.Sprintf("%d:%s:%s", e.Seq, e.Type, e.MsgID) }

func toLogEvent(ev Event) (logEvent, error) {
	var env struct {
		Type string          `json:"type"`
		Seq  int64           `json:"seq"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(ev.Data), &env); err != nil {
		return logEvent{}, fmt.Errorf("event %s %q: %v", ev.Type, ev.Data, err)
	}
	if ev.ID != strconv.FormatInt(env.Seq, 10) || ev.Type != env.Type {
		return logEvent{}, fmt.Errorf("event id %q type %q, envelope seq %d type %q", ev.ID, ev.Type, env.Seq, env.Type)
	}
	out := logEvent{Seq: env.Seq, Type: env.Type}
	if strings.HasPrefix(env.Type, "message.") {
		var m struct{ ID string }
		if err := json.Unmarshal(env.Data, &m); err != nil {
			return logEvent{}, err
		}
		out.MsgID = m.ID
	}
	return out, nil
}

// headSeq reads the room's head on node i.
func headSeq(t *testing.T, cl *Cluster, i int, token, room string) int64 {
	t.Helper()
	var p api.HistoryPage
	if _, err := call(cl.Nodes[i].URL, token, "GET", "/api/v1/rooms/"+room+"/messages?limit=1", nil, &p); err != nil {
		t.Fatal(err)
	}
	return p.HeadSeq
}

// fullLog is the room's whole event log, read by a fresh replay from seq 0 on
// node i with an admin token.
func fullLog(t *testing.T, cl *Cluster, i int, room string) []logEvent {
	t.Helper()
	token := cl.Server(i).Token(t, "auditor", true, time.Hour)
	head := headSeq(t, cl, i, token, room)
	c, err := dialStream(cl.Nodes[i].URL, token, room, "0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []logEvent
	timeout := time.After(20 * time.Second)
	for int64(len(out)) < head {
		select {
		case ev := <-c.Events:
			le, err := toLogEvent(ev)
			if err != nil {
				t.Fatal(err)
			}
			if le.Seq != int64(len(out))+1 {
				t.Fatalf("replay from 0: got seq %d after %d events", le.Seq, len(out))
			}
			out = append(out, le)
		case <-timeout:
			t.Fatalf("replay: got %d of %d events", len(out), head)
		}
	}
	return out
}

// checkStream reports how got, a stream's events from resume point from on,
// differs from the log: it must be exactly log's events after from.
func checkStream(name string, got []logEvent, from int64, log []logEvent) error {
	want := log[from:]
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Errorf("%s: event %d is %v, want %v (resumed from %d)", name, i, got[i], want[i], from)
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("%s: got %d events after %d, the log has %d (last got %v)", name, len(got), from, len(want), got[max(len(got)-1, 0):])
	}
	return nil
}

// recorder follows one user's stream across connections and nodes, as an
// EventSource does: on every reconnect it resumes from the last id it got.
type recorder struct {
	name, token, room string
	cl                *Cluster
	start             int64 // the first connection's resume point

	mu    sync.Mutex
	got   []logEvent
	node  int
	conns int
	errs  []error
	ended bool // the server ended the stream and reconnecting was refused

	move chan int
	stop chan struct{}
	done chan struct{}
}

// followStream opens user's stream on node, resuming after from (the join flow:
// the head of a history page), and keeps it open until stop.
func followStream(t *testing.T, cl *Cluster, user, room string, node int, from int64) *recorder {
	t.Helper()
	r := &recorder{name: user, token: cl.Token(t, user), room: room, cl: cl, start: from, node: node,
		move: make(chan int), stop: make(chan struct{}), done: make(chan struct{})}
	c, err := dialStream(cl.Nodes[node].URL, r.token, room, strconv.FormatInt(from, 10))
	if err != nil {
		t.Fatal(err)
	}
	r.conns = 1
	go r.run(c)
	t.Cleanup(r.Stop)
	return r
}

func (r *recorder) last() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return r.start
	}
	return r.got[len(r.got)-1].Seq
}

func (r *recorder) run(c *sseConn) {
	defer close(r.done)
	for {
		select {
		case ev := <-c.Events:
			r.add(ev)
			continue
		case <-c.Done:
		case node := <-r.move:
			c.Close()
			<-c.Done
			r.drain(c)
			r.mu.Lock()
			r.node = node
			r.mu.Unlock()
			if c = r.reconnect(node); c == nil {
				return
			}
			continue
		case <-r.stop:
			c.Close()
			<-c.Done
			r.drain(c)
			return
		}
		// The server ended the stream (or the node died): resume on the
		// next live node.
		r.drain(c)
		if c = r.reconnect(-1); c == nil {
			return
		}
	}
}

func (r *recorder) drain(c *sseConn) {
	for {
		select {
		case ev := <-c.Events:
			r.add(ev)
		default:
			return
		}
	}
}

func (r *recorder) add(ev Event) {
	le, err := toLogEvent(ev)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errs = append(r.errs, err)
		return
	}
	r.got = append(r.got, le)
}

// reconnect opens the stream again on node (or the next live node after the
// current one, for -1), retrying for a while; nil when stopped or refused.
func (r *recorder) reconnect(node int) *sseConn {
	deadline := time.Now().Add(15 * time.Second)
	for attempt := 0; ; attempt++ {
		r.mu.Lock()
		if node < 0 || !r.cl.Nodes[node].Alive() {
			node = r.node
			for i := 1; i <= len(r.cl.Nodes); i++ {
				if n := (r.node + i) % len(r.cl.Nodes); r.cl.Nodes[n].Alive() {
					node = n
					break
				}
			}
		}
		r.node = node
		r.mu.Unlock()
		c, err := dialStream(r.cl.Nodes[node].URL, r.token, r.room, strconv.FormatInt(r.last(), 10))
		if err == nil {
			r.mu.Lock()
			r.conns++
			r.mu.Unlock()
			return c
		}
		if strings.Contains(err.Error(), ": 403 ") || strings.Contains(err.Error(), ": 404 ") {
			r.mu.Lock()
			r.ended = true
			r.mu.Unlock()
			<-r.stop
			return nil
		}
		if time.Now().After(deadline) {
			r.mu.Lock()
			r.errs = append(r.errs, fmt.Errorf("reconnect: %v", err))
			r.mu.Unlock()
			<-r.stop
			return nil
		}
		select {
		case <-r.stop:
			return nil
		case <-time.After(100 * time.Millisecond):
		}
		node = -1
	}
}

// Move closes the stream and resumes it on node.
func (r *recorder) Move(node int) {
	select {
	case r.move <- node:
	case <-r.done:
	}
}

// Stop closes the stream for good.
func (r *recorder) Stop() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

// waitFor waits until the recorder has every event up to head.
func (r *recorder) waitFor(t *testing.T, head int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for r.last() < head {
		if time.Now().After(deadline) {
			t.Fatalf("%s: got up to seq %d within %s, want %d", r.name, r.last(), timeout, head)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// check stops the recorder and compares what it got with the log.
func (r *recorder) check(t *testing.T, log []logEvent) {
	t.Helper()
	r.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.errs {
		t.Errorf("%s: %v", r.name, err)
	}
	if err := checkStream(r.name, r.got, r.start, log); err != nil {
		t.Error(err)
	}
}

// setupRoom creates a room owned by owner on node 0 and joins each user on a
// node of its own (round robin).
func setupRoom(t *testing.T, cl *Cluster, owner string, users ...string) string {
	t.Helper()
	room := uniqueRoom(t)
	cl.Client(t, owner, 0).CreateRoom(room)
	for i, u := range users {
		cl.Client(t, u, i%len(cl.Nodes)).Join(room)
	}
	return room
}

// acked is a message the server acknowledged.
type acked struct {
	ID, ClientID string
	Seq          int64
}

// sendRetry sends a message with a client id on node; a transport failure or a
// 5xx is retried with the same client id on the next live node, so each send
// shows at most once.
func sendRetry(cl *Cluster, node int, token, room, clientID, content string) (acked, int, error) {
	var lastErr error
	for attempt := range 2 * len(cl.Nodes) {
		n := (node + attempt) % len(cl.Nodes)
		if !cl.Nodes[n].Alive() {
			continue
		}
		var m api.RoomMessage
		status, err := call(cl.Nodes[n].URL, token, "POST", "/api/v1/rooms/"+room+"/messages",
			map[string]string{"content": content, "client_id": clientID}, &m)
		if err == nil {
			return acked{ID: m.ID, ClientID: clientID, Seq: m.Seq}, status, nil
		}
		if status != 0 && status < 500 {
			return acked{}, status, err
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	return acked{}, 0, lastErr
}

// allMessages pages through the room's whole history on node i, oldest first.
func allMessages(t *testing.T, cl *Cluster, i int, room string) []api.RoomMessage {
	t.Helper()
	token := cl.Server(i).Token(t, "auditor", true, time.Hour)
	var out []api.RoomMessage
	after := int64(0)
	for {
		var p api.HistoryPage
		if _, err := call(cl.Nodes[i].URL, token, "GET", fmt.Sprintf("/api/v1/rooms/%s/messages?after=%d&limit=100", room, after), nil, &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Messages...)
		if !p.HasMore || len(p.Messages) == 0 {
			return out
		}
		after = p.Messages[len(p.Messages)-1].Seq
	}
}

// checkAcked checks that every acknowledged message is in the history exactly
// once, at its seq, and that the history has no duplicate id or seq.
func checkAcked(t *testing.T, history []api.RoomMessage, acks []acked) {
	t.Helper()
	byID := map[string]api.RoomMessage{}
	clientIDs := map[string]bool{}
	lastSeq := int64(0)
	for _, m := range history {
		if _, dup := byID[m.ID]; dup {
			t.Errorf("message %s twice in history", m.ID)
		}
		if m.ClientID != nil {
			if k := m.SenderID + "/" + *m.ClientID; clientIDs[k] {
				t.Errorf("client id %s shows twice in history", k)
			} else {
				clientIDs[k] = true
			}
		}
		if m.Seq <= lastSeq {
			t.Errorf("history not strictly increasing: %d after %d", m.Seq, lastSeq)
		}
		byID[m.ID], lastSeq = m, m.Seq
	}
	seen := map[string]bool{}
	for _, a := range acks {
		m, ok := byID[a.ID]
		switch {
		case !ok:
			t.Errorf("acknowledged message %s (seq %d) missing from history", a.ID, a.Seq)
		case m.Seq != a.Seq:
			t.Errorf("acknowledged message %s: seq %d in history, %d when acknowledged", a.ID, m.Seq, a.Seq)
		case seen[a.ClientID] && a.ClientID != "":
			t.Errorf("client id %s acknowledged twice", a.ClientID)
		}
		seen[a.ClientID] = true
	}
}

// TestMultiNodeFanOut: users post on every node at once; every stream on every
// node gets the same events in the same order, the log's.
func TestMultiNodeFanOut(t *testing.T) {
	cl := StartCluster(t, 3, "")
	users := []string{"u0", "u1", "u2"}
	room := setupRoom(t, cl, "alice", users...)
	head := headSeq(t, cl, 0, cl.Token(t, "alice"), room)
	var recs []*recorder
	for i := range cl.Nodes {
		recs = append(recs, followStream(t, cl, "alice", room, i, head))
		recs = append(recs, followStream(t, cl, users[i], room, i, head))
	}
	const perUser = 25
	acks, wait := burst(t, cl, room, users, perUser, nil)
	wait()
	if t.Failed() {
		return
	}
	last := headSeq(t, cl, 1, cl.Token(t, "alice"), room)
	if want := head + perUser*int64(len(users)); last != want {
		t.Fatalf("head %d, want %d", last, want)
	}
	for _, r := range recs {
		r.waitFor(t, last, 15*time.Second)
	}
	log := fullLog(t, cl, 2, room)
	for i, r := range recs {
		r.name = fmt.Sprintf("%s on node%d", r.name, i/2)
		r.check(t, log)
	}
	checkAcked(t, allMessages(t, cl, 0, room), slices.Concat(acks...))
}

// TestMultiNodeResume: a client resumes with Last-Event-ID on another node and
// gets exactly what it missed, then live events; a stream ticket from one node
// opens the stream on another.
func TestMultiNodeResume(t *testing.T) {
	cl := StartCluster(t, 2, "")
	room := setupRoom(t, cl, "alice", "bob")
	alice0, bob0, bob1 := cl.Client(t, "alice", 0), cl.Client(t, "bob", 0), cl.Client(t, "bob", 1)
	head := bob0.History(room, "?limit=1").HeadSeq
	st := bob0.Stream(room, "Last-Event-ID", strconv.FormatInt(head, 10))
	for k := range 5 {
		cl.Client(t, "alice", 1).Send(room, fmt.Sprintf("one %d", k))
	}
	evs := st.Collect(5, 5*time.Second)
	lastID := evs[4].ID
	if want := strconv.FormatInt(head+5, 10); lastID != want {
		t.Fatalf("last id %s, want %s", lastID, want)
	}
	st.Close()
	for k := range 5 {
		alice0.Send(room, fmt.Sprintf("two %d", k))
	}
	// Resume on the other node, by header, then by ticket and ?last_event_id.
	st = bob1.Stream(room, "Last-Event-ID", lastID)
	got := st.Collect(5, 5*time.Second)
	alice0.Send(room, "live")
	got = append(got, st.Collect(1, 5*time.Second)...)
	for i, ev := range got {
		if want := strconv.FormatInt(head+6+int64(i), 10); ev.ID != want || ev.Type != "message.created" {
			t.Errorf("event %d: id %s type %s, want id %s message.created", i, ev.ID, ev.Type, want)
		}
	}
	if extra := st.Drain(); len(extra) != 0 {
		t.Errorf("unexpected events after resuming: %v", extra)
	}
	st.Close()

	var tk api.StreamTicket
	bob0.Must(http.StatusCreated, "POST", "/api/v1/rooms/"+room+"/stream-ticket", nil, &tk)
	st = cl.Server(1).OpenStream(t, "/api/v1/rooms/"+room+"/events", "", "?ticket="+tk.Ticket+"&last_event_id="+strconv.FormatInt(head+10, 10))
	if st.Status != http.StatusOK {
		t.Fatalf("ticket from node0 on node1: status %d", st.Status)
	}
	if ev := st.NextRoomEvent(5 * time.Second); ev.ID != strconv.FormatInt(head+11, 10) {
		t.Errorf("by ticket: got id %s, want %d", ev.ID, head+11)
	}
}

// TestMultiNodeModeration: moderation on one node takes effect on every node:
// a ban or a kick on node 0 ends the user's stream on node 1 within 2 s, and
// a mute stops posts on node 1 at once.
func TestMultiNodeModeration(t *testing.T) {
	cl := StartCluster(t, 2, "")
	room := setupRoom(t, cl, "alice", "bob", "carol", "dave")
	alice := cl.Client(t, "alice", 0)
	bob, carol, dave := cl.Client(t, "bob", 1), cl.Client(t, "carol", 1), cl.Client(t, "dave", 1)

	alice.Must(http.StatusOK, "PUT", "/api/v1/rooms/"+room+"/mutes/bob", map[string]any{"duration_seconds": 60}, nil)
	if r := bob.Do("POST", "/api/v1/rooms/"+room+"/messages", map[string]string{"content": "hi"}); r.Status != http.StatusForbidden || r.Problem(t).Code != "muted" {
		t.Errorf("post of a user muted on the other node: %d %s", r.Status, r.Body)
	}
	alice.Must(http.StatusNoContent, "DELETE", "/api/v1/rooms/"+room+"/mutes/bob", nil, nil)
	bob.Send(room, "unmuted")

	bobSt, carolSt, daveSt := bob.Stream(room), carol.Stream(room), dave.Stream(room)
	for name, st := range map[string]*Stream{"bob": bobSt, "carol": carolSt, "dave": daveSt} {
		if st.Status != http.StatusOK {
			t.Fatalf("%s's stream: %d", name, st.Status)
		}
	}
	start := time.Now()
	alice.Must(http.StatusOK, "PUT", "/api/v1/rooms/"+room+"/bans/bob", map[string]any{"reason": "spam"}, nil)
	if !bobSt.Ended(2 * time.Second) {
		t.Fatalf("bob's stream on node1 still open 2 s after his ban on node0")
	}
	t.Logf("ban on node0 ended the stream on node1 in %s", time.Since(start))
	evs := carolSt.Collect(2, 2*time.Second)
	if evs[0].Type != "user.banned" || evs[1].Type != "participant.left" {
		t.Errorf("carol got %v, want user.banned, participant.left", evs)
	}
	if r := bob.Do("GET", "/api/v1/rooms/"+room+"/messages", nil); r.Status != http.StatusForbidden || r.Problem(t).Code != "banned" {
		t.Errorf("history for bob on node1 after the ban: %d %s", r.Status, r.Body)
	}
	if st := bob.Stream(room); st.Status != http.StatusForbidden {
		t.Errorf("bob's new stream on node1 after the ban: %d", st.Status)
	}

	start = time.Now()
	alice.Must(http.StatusNoContent, "DELETE", "/api/v1/rooms/"+room+"/participants/dave", nil, nil)
	if !daveSt.Ended(2 * time.Second) {
		t.Fatalf("dave's stream on node1 still open 2 s after his kick on node0")
	}
	t.Logf("kick on node0 ended the stream on node1 in %s", time.Since(start))
	if ev := carolSt.NextRoomEvent(2 * time.Second); ev.Type != "participant.left" {
		t.Errorf("carol got %s, want participant.left", ev.Type)
	}
	if carolSt.Ended(100 * time.Millisecond) {
		t.Error("carol's stream ended too")
	}
}

// TestMultiNodeRoomLifecycle runs the rest of the rules on PostgreSQL across
// nodes: retention (history.reset on a resume from before it), a chat lock
// and the moderation log, and a room closed on one node ending the streams
// on the other, its id then reused with seq continuing above the old room's.
func TestMultiNodeRoomLifecycle(t *testing.T) {
	cl := StartCluster(t, 2, "", "CHAT_HISTORY_LIMIT=5")
	room := setupRoom(t, cl, "alice", "bob")
	alice, bob := cl.Client(t, "alice", 0), cl.Client(t, "bob", 1)
	for k := range 8 {
		bob.Send(room, fmt.Sprintf("m%d", k))
	}
	waitFor(t, 2*time.Second, "retention", func() bool { return len(bob.History(room, "").Messages) == 5 })
	st := bob.Stream(room, "Last-Event-ID", "1")
	if ev := st.NextRoomEvent(5 * time.Second); ev.Type != "history.reset" {
		t.Fatalf("resume from before retention: got %s, want history.reset", ev.Type)
	}
	st.Close()

	live := bob.Stream(room)
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	alice.Must(http.StatusOK, "PATCH", "/api/v1/rooms/"+room+"/chat", map[string]any{"locked_until": until, "slow_mode_seconds": 5}, nil)
	if r := bob.Do("POST", "/api/v1/rooms/"+room+"/messages", map[string]string{"content": "hi"}); r.Status != http.StatusForbidden || r.Problem(t).Code != "chat_locked" {
		t.Errorf("post in a chat locked on the other node: %d %s", r.Status, r.Body)
	}
	if ev := live.NextRoomEvent(2 * time.Second); ev.Type != "room.chat_updated" {
		t.Errorf("got %s, want room.chat_updated", ev.Type)
	}
	alice.Must(http.StatusOK, "PUT", "/api/v1/rooms/"+room+"/bans/carol", map[string]any{"duration_seconds": 60}, nil)
	var bans struct{ Bans []api.Ban }
	cl.Client(t, "alice", 1).Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/bans", nil, &bans)
	var mlog struct{ Entries []api.LogEntry }
	cl.Client(t, "alice", 1).Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/moderation-log?limit=10", nil, &mlog)
	if len(bans.Bans) != 1 || len(mlog.Entries) != 2 {
		t.Errorf("got %d bans and %d log entries, want 1 and 2", len(bans.Bans), len(mlog.Entries))
	}
	if ev := live.NextRoomEvent(2 * time.Second); ev.Type != "user.banned" {
		t.Errorf("got %s, want user.banned", ev.Type)
	}

	head := alice.History(room, "?limit=1").HeadSeq
	alice.Must(http.StatusNoContent, "DELETE", "/api/v1/rooms/"+room, nil, nil)
	if ev := live.NextRoomEvent(2 * time.Second); ev.Type != "room.closed" {
		t.Errorf("got %s, want room.closed", ev.Type)
	}
	if !live.Ended(2 * time.Second) {
		t.Error("stream on node1 still open after the room closed on node0")
	}
	if r := bob.Do("GET", "/api/v1/rooms/"+room+"/messages", nil); r.Status != http.StatusNotFound {
		t.Errorf("history of a closed room: %d", r.Status)
	}
	again := cl.Client(t, "bob", 1).CreateRoom(room)
	if p := cl.Client(t, "bob", 0).History(room, ""); len(p.Messages) != 0 || p.HeadSeq <= head+1 || again.OwnerID != "bob" {
		t.Errorf("reused room: %d messages, head %d (old head %d), owner %s", len(p.Messages), p.HeadSeq, head, again.OwnerID)
	}
}

// burst has every user post perUser messages at once, each to the nodes in
// turn (retrying on another node when one fails), and returns each user's
// acknowledged messages once wait returns; onAck, if set, runs after each.
func burst(t *testing.T, cl *Cluster, room string, users []string, perUser int, onAck func()) (acks [][]acked, wait func()) {
	acks = make([][]acked, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := cl.Token(t, u)
			for k := range perUser {
				a, _, err := sendRetry(cl, (i+k)%len(cl.Nodes), token, room, fmt.Sprintf("%s-%d", u, k), fmt.Sprintf("%s says %d", u, k))
				if err != nil {
					t.Errorf("%s: post %d: %v", u, k, err)
					return
				}
				acks[i] = append(acks[i], a)
				if onAck != nil {
					onAck()
				}
			}
		}()
	}
	return acks, wg.Wait
}

// TestMultiNodeDeploymentsShareRedis: two deployments (databases of their own)
// on one Redis, each with its own CHAT_REDIS_PREFIX, never see each other's
// events, even in rooms of the same id.
func TestMultiNodeDeploymentsShareRedis(t *testing.T) {
	a := StartCluster(t, 1, "", "CHAT_REDIS_PREFIX=deploy-a:"+randomHex(4)+":")
	b := StartCluster(t, 1, "", "CHAT_REDIS_PREFIX=deploy-b:"+randomHex(4)+":")
	room := uniqueRoom(t)
	for _, cl := range []*Cluster{a, b} {
		cl.Client(t, "alice", 0).CreateRoom(room)
	}
	st := b.Client(t, "alice", 0).Stream(room)
	for k := range 5 {
		a.Client(t, "alice", 0).Send(room, fmt.Sprintf("deployment a %d", k))
	}
	own := b.Client(t, "alice", 0).Send(room, "deployment b")
	ev := st.NextRoomEvent(5 * time.Second)
	if got := coreMessage(t, ev); got.ID != own.ID {
		t.Fatalf("deployment b's stream: first event %s %q, want its own message %q", ev.ID, got.Content, own.Content)
	}
	if extra := st.Drain(); len(extra) != 0 {
		t.Fatalf("deployment b's stream got %d events from deployment a: %v", len(extra), extra)
	}
}

// TestMultiNodePin: a pin made on node 0 reaches a stream on node 1 through
// Redis, and node 1's Room shows it; so does the unpin.
func TestMultiNodePin(t *testing.T) {
	cl := StartCluster(t, 2, "")
	room := setupRoom(t, cl, "alice", "bob")
	alice0, bob1 := cl.Client(t, "alice", 0), cl.Client(t, "bob", 1)
	m := alice0.Send(room, "pin me")
	st := bob1.Stream(room, "Last-Event-ID", strconv.FormatInt(m.Seq, 10))
	pin(alice0, room, m.ID)
	wantPinned(t, pinnedData(t, st.NextRoomEvent(5*time.Second)), m.ID, "alice")
	if r := getRoom(bob1, room); pinnedID(r) != m.ID {
		t.Fatalf("GET room on node1: pinned %q, want %q", pinnedID(r), m.ID)
	}
	alice0.Must(http.StatusNoContent, "DELETE", pinPath(room), nil, nil)
	wantPinned(t, pinnedData(t, st.NextRoomEvent(5*time.Second)), "", "alice")
}
