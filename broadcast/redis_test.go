package broadcast

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisLog is the event log the Redis tests share between nodes: committed
// events per room, oldest first. afterHook, when set, runs inside After
// between reading the snapshot and returning it.
type redisLog struct {
	mu        sync.Mutex
	rooms     map[string][]*Event
	afterHook func()
}

func newRedisLog() *redisLog { return &redisLog{rooms: map[string][]*Event{}} }

func (l *redisLog) Head(_ context.Context, room string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.rooms[room])), nil
}

func (l *redisLog) Heads(_ context.Context, rooms []string) (map[string]int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int64{}
	for _, room := range rooms {
		out[room] = int64(len(l.rooms[room]))
	}
	return out, nil
}

func (l *redisLog) After(_ context.Context, room string, after int64, limit int) ([]*Event, error) {
	l.mu.Lock()
	var out []*Event
	for _, ev := range l.rooms[room] {
		if ev.Seq > after && len(out) < limit {
			out = append(out, ev)
		}
	}
	hook := l.afterHook
	l.mu.Unlock()
	if hook != nil {
		hook()
	}
	return out, nil
}

// commit appends n events to room with the next seqs and returns them.
func (l *redisLog) commit(room string, n int) []*Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*Event
	for range n {
		seq := int64(len(l.rooms[room]) + 1)
		ev := &Event{Room: room, Seq: seq, Type: "message.created",
			Frame: Frame(seq, "message.created", fmt.Appendf(nil, `{"room_id":%q,"seq":%d}`, room, seq))}
		l.rooms[room] = append(l.rooms[room], ev)
		out = append(out, ev)
	}
	return out
}

// redisURL is the Redis the tests use (CHAT_TEST_REDIS); .ci/run sets it.
func redisURL(t *testing.T) string {
	u := os.Getenv("CHAT_TEST_REDIS")
	if u == "" {
		t.Skip("CHAT_TEST_REDIS is not set")
	}
	return u
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// redisNode is one node's fan-out on the test Redis, with a client name that
// lets a test find its connections. Channels get a prefix of their own, so
// parallel tests never hear each other.
type redisNode struct {
	*Redis
	name string
}

func newRedisNode(t *testing.T, url, prefix string, src Source, opts RedisOptions) *redisNode {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	o.ClientName = randomName("rt-")
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.ChannelPrefix = prefix
	r := NewRedis(redis.NewClient(o), NewMemory(src, log), log, opts)
	t.Cleanup(func() { r.Close() })
	return &redisNode{Redis: r, name: o.ClientName}
}

// testWriter sends log lines to t.Log, so they show with a failure only.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// redisAdmin is a plain client for inspecting and disturbing the test Redis.
func redisAdmin(t *testing.T, url string) *redis.Client {
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// receiveSeqs reads n events from sub, failing after timeout.
func receiveSeqs(t *testing.T, sub *Subscription, n int, timeout time.Duration) []int64 {
	t.Helper()
	var got []int64
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case ev := <-sub.Events():
			got = append(got, ev.Seq)
		case <-sub.Done():
			t.Fatalf("subscription dropped (%v) after %v", sub.Err(), got)
		case <-deadline:
			t.Fatalf("got %v within %s, want %d events", got, timeout, n)
		}
	}
	return got
}

// nothingMore fails if sub delivers anything within d.
func nothingMore(t *testing.T, sub *Subscription, d time.Duration) {
	t.Helper()
	select {
	case ev := <-sub.Events():
		t.Fatalf("unexpected event %d", ev.Seq)
	case <-time.After(d):
	}
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestRedisWire(t *testing.T) {
	t.Parallel()
	ev := &Event{Room: "room-1", Seq: 1 << 40, Type: "user.banned", EndsUser: "bob/ü", Frame: Frame(1<<40, "user.banned", []byte(`{"a":1}`))}
	got, err := decodeWire(encodeWire(ev))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got.Room != ev.Room || got.Seq != ev.Seq || got.Type != ev.Type || got.EndsUser != ev.EndsUser || got.EndsAll != ev.EndsAll || !bytes.Equal(got.Frame, ev.Frame) {
		t.Fatalf("got %+v, want %+v", got, ev)
	}
	closed := &Event{Room: "room-1", Seq: 7, Type: "room.closed", EndsAll: true, Frame: Frame(7, "room.closed", []byte(`{}`))}
	if got, err := decodeWire(encodeWire(closed)); err != nil || !got.EndsAll || got.EndsUser != "" {
		t.Fatalf("room.closed: got %+v, %v; want it to end every stream", got, err)
	}
	good := encodeWire(ev)
	bad := map[string][]byte{
		"empty":          nil,
		"other version":  append([]byte{9}, good[1:]...),
		"truncated":      good[:5],
		"no frame":       encodeWire(&Event{Room: "r", Seq: 1, Type: "t"}),
		"zero seq":       encodeWire(&Event{Room: "r", Seq: 0, Type: "t", Frame: []byte("x")}),
		"no room":        encodeWire(&Event{Seq: 1, Type: "t", Frame: []byte("x")}),
		"huge length":    {wireVersion, 0xff, 0xff, 0xff, 0xff, 0x0f, 'r'},
		"bad varint seq": {wireVersion, 1, 'r', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
	for name, p := range bad {
		if _, err := decodeWire(p); err == nil {
			t.Errorf("%s: decoded, want an error", name)
		}
	}
}

// TestRedisFanOut: events published on one node reach the streams of every
// node, in seq order, however the publishes interleave.
func TestRedisFanOut(t *testing.T) {
	t.Parallel()
	url, prefix, log := redisURL(t), randomName("rt:")+":", newRedisLog()
	a := newRedisNode(t, url, prefix, log, RedisOptions{CheckEvery: time.Hour})
	b := newRedisNode(t, url, prefix, log, RedisOptions{CheckEvery: time.Hour})
	ctx := context.Background()
	subA, err := a.Subscribe(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	subB, err := b.Subscribe(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	evs := log.commit("r", 40)
	// Even seqs on a, odd ones on b, each node in reverse: both must see 1..40.
	for i := len(evs) - 1; i >= 0; i-- {
		node := a
		if evs[i].Seq%2 == 1 {
			node = b
		}
		if err := node.Publish(ctx, evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	for name, sub := range map[string]*Subscription{"a": subA, "b": subB} {
		if got := receiveSeqs(t, sub, 40, 5*time.Second); !slices.Equal(got, seqRange(1, 40)) {
			t.Errorf("node %s: got %v", name, got)
		}
	}
	nothingMore(t, subB, 200*time.Millisecond)
}

// TestRedisResubscribeCatchesUp: when go-redis silently resubscribes after its
// connection was killed, the node catches up from the log at once: here the
// periodic check is off and the events were never published at all.
func TestRedisResubscribeCatchesUp(t *testing.T) {
	t.Parallel()
	url, prefix, log := redisURL(t), randomName("rt:")+":", newRedisLog()
	n := newRedisNode(t, url, prefix, log, RedisOptions{CheckEvery: time.Hour})
	sub, err := n.Subscribe(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	log.commit("r", 3) // their publishes were lost
	killPubSub(t, redisAdmin(t, url), n.name)
	if got := receiveSeqs(t, sub, 3, 5*time.Second); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("got %v, want [1 2 3]", got)
	}
	// The resubscribed channel carries live events again.
	other := newRedisNode(t, url, prefix, log, RedisOptions{CheckEvery: time.Hour})
	if err := other.Publish(context.Background(), log.commit("r", 1)[0]); err != nil {
		t.Fatal(err)
	}
	if got := receiveSeqs(t, sub, 1, 5*time.Second); !slices.Equal(got, []int64{4}) {
		t.Fatalf("after resubscribing: got %v, want [4]", got)
	}
}

// killPubSub kills the Pub/Sub connection of the client named name.
func killPubSub(t *testing.T, admin *redis.Client, name string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, err := admin.ClientList(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(list, "\n") {
			f := map[string]string{}
			for _, kv := range strings.Fields(line) {
				k, v, _ := strings.Cut(kv, "=")
				f[k] = v
			}
			if f["name"] == name && f["sub"] != "0" && f["sub"] != "" {
				if err := admin.Do(ctx, "CLIENT", "KILL", "ID", f["id"]).Err(); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no subscribed connection named %s in %s", name, list)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedisPeriodicCheck: an event whose publish was lost, with no later one
// to reveal the gap, still arrives by the periodic check.
func TestRedisPeriodicCheck(t *testing.T) {
	t.Parallel()
	url, prefix, log := redisURL(t), randomName("rt:")+":", newRedisLog()
	n := newRedisNode(t, url, prefix, log, RedisOptions{CheckEvery: 100 * time.Millisecond})
	sub, err := n.Subscribe(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	log.commit("r", 2)
	if got := receiveSeqs(t, sub, 2, 2*time.Second); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("got %v, want [1 2]", got)
	}
}

// TestRedisChannelLifecycle: a room's channel is subscribed while the room
// has streams on the node, and left a little after the last one ends.
func TestRedisChannelLifecycle(t *testing.T) {
	t.Parallel()
	url, prefix, log := redisURL(t), randomName("rt:")+":", newRedisLog()
	admin := redisAdmin(t, url)
	n := newRedisNode(t, url, prefix, log, RedisOptions{CheckEvery: 20 * time.Millisecond})
	numsub := func() int64 {
		m, err := admin.PubSubNumSub(context.Background(), prefix+"r").Result()
		if err != nil {
			t.Fatal(err)
		}
		return m[prefix+"r"]
	}
	ctx := context.Background()
	sub1, err := n.Subscribe(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if got := numsub(); got != 1 {
		t.Fatalf("subscribers of the channel after Subscribe: got %d, want 1", got)
	}
	sub2, err := n.Subscribe(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	sub1.Close()
	time.Sleep(time.Duration(lingerChecks+3) * 20 * time.Millisecond)
	if got := numsub(); got != 1 {
		t.Fatalf("with one stream left: got %d subscribers, want 1", got)
	}
	sub2.Close()
	waitUntil(t, 2*time.Second, "the channel to be left", func() bool { return numsub() == 0 })

	sub3, err := n.Subscribe(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	other := newRedisNode(t, url, prefix, log, RedisOptions{CheckEvery: time.Hour})
	if err := other.Publish(ctx, log.commit("r", 1)[0]); err != nil {
		t.Fatal(err)
	}
	if got := receiveSeqs(t, sub3, 1, 2*time.Second); !slices.Equal(got, []int64{1}) {
		t.Fatalf("after subscribing again: got %v, want [1]", got)
	}
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedisUnreachable: without Redis a node still serves its own streams at
// once and other nodes' events through the log; nothing waits on Redis.
func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	log := newRedisLog()
	mem := NewMemory(log, slog.New(slog.DiscardHandler))
	// Port 1 on loopback refuses connections at once.
	r, err := DialRedis("redis://127.0.0.1:1/0", mem, slog.New(slog.DiscardHandler), RedisOptions{CheckEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sub, err := r.Subscribe(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > DefaultSubscribeWait/2 {
		t.Errorf("Subscribe took %s with Redis down", d)
	}
	evs := log.commit("r", 2)
	if err := r.Publish(context.Background(), evs[0]); err != nil {
		t.Fatal(err)
	}
	if got := receiveSeqs(t, sub, 1, 500*time.Millisecond); !slices.Equal(got, []int64{1}) {
		t.Fatalf("local publish: got %v, want [1]", got)
	}
	// evs[1] was committed elsewhere and never reached us: the check finds it.
	if got := receiveSeqs(t, sub, 1, 2*time.Second); !slices.Equal(got, []int64{2}) {
		t.Fatalf("from the log: got %v, want [2]", got)
	}
	start = time.Now()
	r.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %s", d)
	}
	select {
	case <-sub.Done():
	default:
		t.Error("subscription still open after Close")
	}
	if _, err := r.Subscribe(context.Background(), "r"); err != ErrClosed {
		t.Errorf("Subscribe after Close: got %v, want ErrClosed", err)
	}
}

// TestRedisCatchUpRacingPublish: a catch-up whose read of the log predates
// seq 2 and 3 must not skip seq 2 when seq 3 arrives from another node while
// it reads (before the fix, the hub took the missing 2 for deleted).
func TestRedisCatchUpRacingPublish(t *testing.T) {
	t.Parallel()
	log := newRedisLog()
	h := NewMemory(log, slog.New(slog.DiscardHandler))
	defer h.Close()
	sub, err := h.Subscribe(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	log.commit("r", 1) // its publish was lost: the catch-up reads it
	var once sync.Once
	log.afterHook = func() {
		once.Do(func() {
			// Commits land after the catch-up's read; only seq 3's
			// publish arrives before the catch-up is done.
			evs := log.commit("r", 2)
			_ = h.Publish(context.Background(), evs[1])
		})
	}
	h.CatchUp()
	if got := receiveSeqs(t, sub, 3, 2*time.Second); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("got %v, want [1 2 3]", got)
	}
}
