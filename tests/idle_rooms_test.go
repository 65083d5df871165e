package tests

// What idle rooms cost a node of many: the broadcaster over real PostgreSQL
// and real Redis, serving many rooms with no traffic, counted by how often it
// reads the event log.

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/broadcast"
	"github.com/resonate/resonate-chat/handlers"
	"github.com/resonate/resonate-chat/models"
)

// countingSource counts the broadcaster's reads of the event log.
type countingSource struct {
	src                broadcast.Source
	head, heads, after atomic.Int64
	// known, while set, answers Head without a read: the test sets it
	// while it subscribes to rooms it just made, before any other use.
	known map[string]int64
}

var _ broadcast.Source = (*countingSource)(nil)

func (c *countingSource) Head(ctx context.Context, room string) (int64, error) {
	if head, ok := c.known[room]; ok {
		return head, nil
	}
	c.head.Add(1)
	return c.src.Head(ctx, room)
}

func (c *countingSource) Heads(ctx context.Context, rooms []string) (map[string]int64, error) {
	c.heads.Add(1)
	return c.src.Heads(ctx, rooms)
}

func (c *countingSource) After(ctx context.Context, room string, after int64, limit int) ([]*broadcast.Event, error) {
	c.after.Add(1)
	return c.src.After(ctx, room, after, limit)
}

// reads returns the reads so far, by kind.
func (c *countingSource) reads() map[string]int64 {
	return map[string]int64{"head": c.head.Load(), "heads": c.heads.Load(), "after": c.after.Load()}
}

func total(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

func diff(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range b {
		out[k] = v - a[k]
	}
	return out
}

// dropNotifier loses every event: they are committed, and never published.
type dropNotifier struct{}

func (dropNotifier) Notify(context.Context, []*models.Event) {}

// TestMultiNodeIdleRooms: a node serving 10,000 rooms with no traffic reads
// the event log about once a second in all (one batched check of every room's
// head), not once per room; and an event whose publish was lost still reaches
// its room's subscription within about a second.
func TestMultiNodeIdleRooms(t *testing.T) {
	const rooms, window = 10_000, 3 * time.Second
	redisURL := redisTestURL(t)
	ctx := context.Background()
	dsn := freshDatabase(t)
	store, err := models.Open(ctx, dsn, models.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	// Events are committed and never published: what reaches a subscription
	// came from the log.
	chat := models.NewChat(store, api.EncodeEvent, dropNotifier{}, models.Options{HistoryLimit: 100, MaxMessageLength: 2000})
	owner := models.Actor{UserID: "owner", Name: "Owner"}
	ids := make([]string, rooms)
	for i := range ids {
		ids[i] = fmt.Sprintf("idle-%05d", i)
	}
	// The rooms are written in one statement: through CreateRoom, one at a
	// time, they would take a minute to make.
	ids[0] = "lost"
	if _, _, err := chat.CreateRoom(ctx, owner, ids[0], "Lost"); err != nil {
		t.Fatal(err)
	}
	insertRooms(t, dsn, ids[1:])

	o, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	src := &countingSource{src: handlers.EventSource{Store: store}}
	node := broadcast.NewRedis(redis.NewClient(o), broadcast.NewMemory(src, log), log,
		broadcast.RedisOptions{ChannelPrefix: "idle-" + randomHex(6) + ":"})
	t.Cleanup(func() { node.Close() })
	// A node's first stream of a room reads the room's head; read all ten
	// thousand at once here, or subscribing would take a minute.
	if src.known, err = src.src.Heads(ctx, ids); err != nil || len(src.known) != rooms {
		t.Fatalf("Heads: got %d heads and %v, want %d and nil", len(src.known), err, rooms)
	}
	subs := make(map[string]*broadcast.Subscription, rooms)
	var mu sync.Mutex
	start := time.Now()
	parallel(t, 32, ids, func(id string) error {
		sub, err := node.Subscribe(ctx, id)
		if err != nil {
			return err
		}
		mu.Lock()
		subs[id] = sub
		mu.Unlock()
		return nil
	})
	t.Logf("subscribed %d rooms in %s", rooms, time.Since(start).Round(time.Millisecond))
	src.known = nil

	// No traffic: count every read of the log over the window.
	before := src.reads()
	<-time.After(window)
	idle := diff(before, src.reads())
	perSecond := float64(total(idle)) / window.Seconds()
	t.Logf("idle: %v reads of the event log in %s (%.1f/s) for %d rooms", idle, window, perSecond, rooms)
	if perSecond > 2 {
		t.Errorf("idle: got %.1f reads of the event log a second, want at most 2", perSecond)
	}

	// A lost publish: the event is only in the log.
	room := ids[0]
	before = src.reads()
	msg, _, err := chat.Send(ctx, owner, room, models.SendInput{Content: "lost on its way"})
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	select {
	case ev := <-subs[room].Events():
		if ev.Seq != msg.Seq {
			t.Fatalf("got seq %d, want %d", ev.Seq, msg.Seq)
		}
	case <-subs[room].Done():
		t.Fatalf("subscription dropped: %v", subs[room].Err())
	case <-time.After(5 * time.Second):
		t.Fatal("the lost event never arrived")
	}
	took := time.Since(sent)
	t.Logf("lost publish recovered in %s with %v reads", took.Round(time.Millisecond), diff(before, src.reads()))
	// The next check finds it: at most one period away, plus the time the
	// check and the read take on a busy machine.
	if limit := 2 * broadcast.DefaultCheckEvery; took > limit {
		t.Errorf("lost publish recovered in %s, want within %s", took, limit)
	}
}

// insertRooms writes empty open rooms with the given ids straight to the
// database.
func insertRooms(t *testing.T, dsn string, ids []string) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO rooms (id, name, owner_id, created_at) SELECT id, 'Idle', 'owner', now() FROM unnest($1::text[]) AS id`, ids); err != nil {
		t.Fatal(err)
	}
}

// parallel runs fn on every item with workers goroutines, failing t on the
// first error.
func parallel(t *testing.T, workers int, items []string, fn func(string) error) {
	t.Helper()
	next := make(chan string)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				if err := fn(it); err != nil {
					errs <- fmt.Errorf("%s: %w", it, err)
					return
				}
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case next <- it:
		case err := <-errs:
			errs <- err
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// testLogWriter sends log lines to t.Log, so they show with a failure only.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
