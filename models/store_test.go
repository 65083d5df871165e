package models_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for creating test databases

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// recorder is the Notifier of these tests: it keeps every event handed to it
// after a commit.
type recorder struct {
	mu  sync.Mutex
	evs []*models.Event
}

func (r *recorder) Notify(_ context.Context, evs []*models.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, evs...)
}

func (r *recorder) events(room string) []*models.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*models.Event
	for _, ev := range r.evs {
		if ev.RoomID == room {
			out = append(out, ev)
		}
	}
	return out
}

// backend makes fresh databases of one kind.
type backend struct {
	name string
	// dsn returns a new, empty database that lives as long as t.
	dsn func(t *testing.T) string
}

// backends is SQLite always, and PostgreSQL when CHAT_TEST_POSTGRES names a
// server (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable).
func backends() []backend {
	bs := []backend{{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "chat.db") }}}
	if admin := os.Getenv("CHAT_TEST_POSTGRES"); admin != "" {
		bs = append(bs, backend{"postgres", func(t *testing.T) string { return freshPostgres(t, admin) }})
	}
	return bs
}

// eachBackend runs fn in a parallel subtest per backend, on a fresh database.
func eachBackend(t *testing.T, fn func(t *testing.T, dsn string)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.dsn(t))
		})
	}
}

// postgresOnly is a fresh database for a test that runs on PostgreSQL alone;
// without CHAT_TEST_POSTGRES the test is skipped.
func postgresOnly(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("CHAT_TEST_POSTGRES")
	if admin == "" {
		t.Skip("CHAT_TEST_POSTGRES is not set")
	}
	return freshPostgres(t, admin)
}

// freshPostgres creates a database on the server admin names and drops it
// when t ends.
func freshPostgres(t *testing.T, admin string) string {
	t.Helper()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("open %s: %v", admin, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "chat_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// template0: concurrent creations from template1 can collide.
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		db.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		db.Close()
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", admin, err)
	}
	u.Path = "/" + name
	return u.String()
}

// node is one server's view of the database: its store, use cases and the
// events they notified.
type node struct {
	store *models.Store
	chat  *models.Chat
	rec   *recorder
}

func openNode(t *testing.T, dsn string, opts models.Options) *node {
	t.Helper()
	st, err := models.Open(context.Background(), dsn, models.OpenOptions{})
	if err != nil {
		t.Fatalf("Open: got %v, want nil", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if opts.MaxMessageLength == 0 {
		opts.MaxMessageLength = 2000
	}
	if opts.HistoryLimit == 0 {
		opts.HistoryLimit = 100
	}
	rec := &recorder{}
	return &node{store: st, chat: models.NewChat(st, api.EncodeEvent, rec, opts), rec: rec}
}

var (
	owner = models.Actor{UserID: "alice", Name: "Alice"}
	bob   = models.Actor{UserID: "bob", Name: "Bob"}
	carol = models.Actor{UserID: "carol", Name: "Carol"}
)

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: got error %v, want nil", what, err)
		}
		return v
	}
}

func must3[T any](t *testing.T, what string) func(T, bool, error) T {
	return func(v T, _ bool, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: got error %v, want nil", what, err)
		}
		return v
	}
}

func check(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: got error %v, want nil", what, err)
	}
}

// setupRoom creates room id owned by owner, with the users joined.
func setupRoom(t *testing.T, n *node, id string, users ...models.Actor) {
	t.Helper()
	ctx := context.Background()
	must3[*models.Room](t, "CreateRoom")(n.chat.CreateRoom(ctx, owner, id, "Room "+id))
	for _, u := range users {
		must3[*models.Participant](t, "Join "+u.UserID)(n.chat.Join(ctx, u, id))
	}
}

func send(t *testing.T, n *node, a models.Actor, room, content string) *models.Message {
	t.Helper()
	return must3[*models.Message](t, "Send")(n.chat.Send(context.Background(), a, room, models.SendInput{Content: content}))
}

// logSeqs reads the whole event log of room and checks that it is one dense
// run from OldestSeq to HeadSeq, as every snapshot must be.
func logSeqs(t *testing.T, st *models.Store, room string) (*models.Replay, []int64) {
	t.Helper()
	r, err := st.EventsAfter(context.Background(), room, 0, 100000)
	if err != nil {
		t.Fatalf("EventsAfter(%s, 0): got %v, want nil", room, err)
	}
	var got []int64
	for _, ev := range r.Events {
		got = append(got, ev.Seq)
	}
	if err := denseSnapshot(r); err != nil {
		t.Fatalf("EventsAfter(%s, 0): %v", room, err)
	}
	return r, got
}

// denseSnapshot checks that a full read of the log holds exactly OldestSeq…HeadSeq.
func denseSnapshot(r *models.Replay) error {
	want := r.OldestSeq
	for _, ev := range r.Events {
		if ev.Seq != want {
			return fmt.Errorf("got seq %d, want %d (oldest %d, head %d, %d events)", ev.Seq, want, r.OldestSeq, r.HeadSeq, len(r.Events))
		}
		want++
	}
	if want-1 != r.HeadSeq {
		return fmt.Errorf("log ends at %d, head is %d", want-1, r.HeadSeq)
	}
	return nil
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// TestSeqDenseAcrossEvents drives a room through messages and moderation and
// checks that every event took the next seq, in the log and in notifications.
func TestSeqDenseAcrossEvents(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		n := openNode(t, dsn, models.Options{})
		setupRoom(t, n, "r", bob, carol)
		m1 := send(t, n, bob, "r", "hello")
		reply := m1.ID
		m2 := must3[*models.Message](t, "Send reply")(n.chat.Send(ctx, owner, "r", models.SendInput{Content: "hi bob", ReplyTo: &reply}))
		must[*models.Mute](t, "Mute")(n.chat.Mute(ctx, owner, "r", carol.UserID, time.Minute, nil))
		check(t, "Unmute", n.chat.Unmute(ctx, owner, "r", carol.UserID))
		must[*models.Message](t, "Edit")(n.chat.Edit(ctx, bob, "r", m1.ID, "hello, edited", nil))
		check(t, "DeleteMessage", n.chat.DeleteMessage(ctx, owner, "r", m1.ID))
		check(t, "DeleteMessage again", n.chat.DeleteMessage(ctx, owner, "r", m1.ID)) // idempotent: no event
		must[*models.Participant](t, "SetRole")(n.chat.SetRole(ctx, owner, "r", carol.UserID, models.RoleModerator))
		until := time.Now().Add(time.Hour)
		must[*models.Room](t, "UpdateChat")(n.chat.UpdateChat(ctx, owner, "r", models.ChatUpdate{SetLock: true, LockedUntil: &until}))
		must[*models.Ban](t, "Ban")(n.chat.Ban(ctx, carol, "r", "dave", nil, nil))
		check(t, "Unban", n.chat.Unban(ctx, carol, "r", "dave"))
		must[*models.Ban](t, "Ban bob")(n.chat.Ban(ctx, owner, "r", bob.UserID, nil, nil)) // two events: banned, left
		check(t, "RemoveParticipant", n.chat.RemoveParticipant(ctx, carol, "r", carol.UserID))
		// Refusals write nothing.
		if _, _, err := n.chat.Send(ctx, bob, "r", models.SendInput{Content: "let me in"}); !errors.Is(err, models.ErrBanned) {
			t.Errorf("Send by a banned user: got %v, want %v", err, models.ErrBanned)
		}
		if _, _, err := n.chat.Send(ctx, owner, "r", models.SendInput{Content: "\x00"}); !errors.Is(err, models.ErrContentInvalid) {
			t.Errorf("Send of a NUL: got %v, want %v", err, models.ErrContentInvalid)
		}

		wantTypes := []string{
			models.EventParticipantJoined, models.EventParticipantJoined, models.EventParticipantJoined,
			models.EventMessageCreated, models.EventMessageCreated, models.EventUserMuted, models.EventUserUnmuted,
			models.EventMessageUpdated, models.EventMessageDeleted, models.EventParticipantRole,
			models.EventRoomChatUpdated, models.EventUserBanned, models.EventUserUnbanned,
			models.EventUserBanned, models.EventParticipantLeft, models.EventParticipantLeft,
		}
		r, got := logSeqs(t, n.store, "r")
		if want := seqRange(1, int64(len(wantTypes))); !slices.Equal(got, want) {
			t.Fatalf("log seqs: got %v, want %v", got, want)
		}
		if head := must[int64](t, "Head")(n.store.Head(ctx, "r")); head != int64(len(wantTypes)) {
			t.Errorf("Head: got %d, want %d", head, len(wantTypes))
		}
		notified := n.rec.events("r")
		if len(notified) != len(r.Events) {
			t.Fatalf("notified %d events, want %d", len(notified), len(r.Events))
		}
		for i, row := range r.Events {
			if row.Type != wantTypes[i] {
				t.Errorf("event %d: got type %s, want %s", row.Seq, row.Type, wantTypes[i])
			}
			if ev := notified[i]; ev.Seq != row.Seq || ev.Type != row.Type {
				t.Errorf("notification %d: got #%d %s, want #%d %s", i, ev.Seq, ev.Type, row.Seq, row.Type)
			}
		}
		if m1.Seq != 4 || m2.Seq != 5 {
			t.Errorf("message seqs: got %d and %d, want 4 and 5 (their message.created events)", m1.Seq, m2.Seq)
		}
		// The deleted message's text is gone from every logged event.
		for _, row := range r.Events {
			if strings.Contains(row.Data, "hello") {
				t.Errorf("event #%d %s still carries the deleted text: %s", row.Seq, row.Type, row.Data)
			}
		}
	})
}

// TestClientIDRetry: a send retried with its client_id returns the original
// and writes nothing; other content under that id is a conflict.
func TestClientIDRetry(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		n := openNode(t, dsn, models.Options{})
		setupRoom(t, n, "r", bob, carol)
		id := func(s string) *string { return &s }
		orig, created, err := n.chat.Send(ctx, bob, "r", models.SendInput{Content: "hi", ClientID: id("c1")})
		if err != nil || !created {
			t.Fatalf("first send: got created=%v, %v; want true, nil", created, err)
		}
		head := must[int64](t, "Head")(n.store.Head(ctx, "r"))
		notified := len(n.rec.events("r"))

		tests := []struct {
			name     string
			actor    models.Actor
			content  string
			clientID string
			created  bool
			err      error
		}{
			{"retry", bob, "hi", "c1", false, nil},
			{"retry with other white space", bob, "  hi\r\n", "c1", false, nil},
			{"other content", bob, "hello", "c1", false, models.ErrConflict},
			{"other sender, same id", carol, "hi", "c1", true, nil},
			{"same sender, other id", bob, "hi", "c2", true, nil},
			{"empty id", bob, "hi", "", false, models.ErrInvalid},
			{"65 characters", bob, "hi", strings.Repeat("x", 65), false, models.ErrInvalid},
		}
		for _, tt := range tests {
			m, created, err := n.chat.Send(ctx, tt.actor, "r", models.SendInput{Content: tt.content, ClientID: id(tt.clientID)})
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Errorf("%s: got error %v, want %v", tt.name, err, tt.err)
				continue
			}
			if created != tt.created {
				t.Errorf("%s: got created=%v, want %v", tt.name, created, tt.created)
			}
			if err == nil && !tt.created && (m.ID != orig.ID || m.Seq != orig.Seq || m.Content != "hi") {
				t.Errorf("%s: got message %s #%d %q, want the original %s #%d", tt.name, m.ID, m.Seq, m.Content, orig.ID, orig.Seq)
			}
		}
		if got := must[int64](t, "Head")(n.store.Head(ctx, "r")); got != head+2 {
			t.Errorf("Head: got %d, want %d (two new messages, retries write nothing)", got, head+2)
		}
		if got := len(n.rec.events("r")); got != notified+2 {
			t.Errorf("notified %d events, want %d", got, notified+2)
		}

		// Concurrent retries of one send: exactly one is created.
		const tries = 8
		var wg sync.WaitGroup
		results := make([]*models.Message, tries)
		createdN := make([]bool, tries)
		errs := make([]error, tries)
		for i := range tries {
			wg.Go(func() {
				results[i], createdN[i], errs[i] = n.chat.Send(ctx, bob, "r", models.SendInput{Content: "once", ClientID: id("c3")})
			})
		}
		wg.Wait()
		var made int
		for i := range tries {
			if errs[i] != nil {
				t.Errorf("concurrent retry %d: got %v, want nil", i, errs[i])
				continue
			}
			if createdN[i] {
				made++
			}
			if results[i].ID != results[0].ID {
				t.Errorf("concurrent retry %d: got message %s, want %s", i, results[i].ID, results[0].ID)
			}
		}
		if made != 1 {
			t.Errorf("concurrent retries: %d created, want 1", made)
		}

		// A retry after a delete returns the tombstone, not a new message.
		check(t, "DeleteMessage", n.chat.DeleteMessage(ctx, bob, "r", orig.ID))
		m, created, err := n.chat.Send(ctx, bob, "r", models.SendInput{Content: "hi", ClientID: id("c1")})
		if err != nil || created || m.ID != orig.ID || !m.IsDeleted || m.Content != "" {
			t.Errorf("retry after delete: got %+v, created=%v, %v; want the tombstone", m, created, err)
		}
	})
}

// TestRetention keeps the newest HistoryLimit messages and the events from the
// oldest of them on; older rows are deleted, not hidden.
func TestRetention(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		n := openNode(t, dsn, models.Options{HistoryLimit: 5})
		setupRoom(t, n, "r", bob) // seqs 1, 2
		for i := range 12 {
			send(t, n, bob, "r", fmt.Sprint("message ", i)) // seqs 3..14
		}
		zero := 0
		must[*models.Room](t, "UpdateChat")(n.chat.UpdateChat(ctx, owner, "r", models.ChatUpdate{SlowModeSeconds: &zero})) // 15
		send(t, n, bob, "r", "message 12")                                                                                 // 16
		last := send(t, n, bob, "r", "message 13")                                                                         // 17
		check(t, "DeleteMessage", n.chat.DeleteMessage(ctx, bob, "r", last.ID))                                            // 18: still counts

		// Messages at 3..14, 16, 17: the newest five are 17, 16, 14, 13, 12.
		// What falls out is deleted within a second (PostgreSQL prunes
		// after the batch of sends, SQLite at its commit).
		waitOldest(t, n.store, "r", 12)
		r, got := logSeqs(t, n.store, "r")
		if r.OldestSeq != 12 || r.HeadSeq != 18 {
			t.Errorf("got oldest %d, head %d; want 12, 18", r.OldestSeq, r.HeadSeq)
		}
		if want := seqRange(12, 18); !slices.Equal(got, want) {
			t.Errorf("log after seq 0: got %v, want %v (older events deleted)", got, want)
		}
		page := must[*models.HistoryPage](t, "History")(n.chat.History(ctx, bob, "r", models.HistoryQuery{Limit: 100}))
		var msgs []int64
		for _, m := range page.Messages {
			msgs = append(msgs, m.Seq)
		}
		if want := []int64{17, 16, 14, 13, 12}; !slices.Equal(msgs, want) || page.HasMore || page.HeadSeq != 18 {
			t.Errorf("History: got %v, has_more %v, head %d; want %v, false, 18", msgs, page.HasMore, page.HeadSeq, want)
		}
		before := int64(12)
		page = must[*models.HistoryPage](t, "History before")(n.chat.History(ctx, bob, "r", models.HistoryQuery{Before: &before}))
		if len(page.Messages) != 0 {
			t.Errorf("History before 12: got %d messages, want none", len(page.Messages))
		}
		// Another send moves the window by one message.
		send(t, n, bob, "r", "message 14") // 19
		waitOldest(t, n.store, "r", 13)
		r, _ = logSeqs(t, n.store, "r")
		if r.OldestSeq != 13 || r.Events[0].Seq != 13 {
			t.Errorf("after one more send: got oldest %d, first event %d; want 13, 13", r.OldestSeq, r.Events[0].Seq)
		}
	})
}

// waitOldest waits up to the second the contract gives retention for the
// room's oldest kept seq to reach want; the caller checks what it finds.
func waitOldest(t *testing.T, st *models.Store, room string, want int64) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if r, err := st.EventsAfter(context.Background(), room, 0, 1); err == nil && r.OldestSeq >= want {
			return
		}
	}
}

// TestEventsAfterAndHead reads slices of the log.
func TestEventsAfterAndHead(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		n := openNode(t, dsn, models.Options{})
		setupRoom(t, n, "r", bob) // 1, 2
		for i := range 8 {
			send(t, n, bob, "r", fmt.Sprint(i)) // 3..10
		}
		setupRoom(t, n, "other", bob)
		tests := []struct {
			after int64
			limit int
			want  []int64
		}{
			{0, 100, seqRange(1, 10)},
			{0, 3, seqRange(1, 3)},
			{4, 3, seqRange(5, 7)},
			{9, 100, []int64{10}},
			{10, 100, nil},
			{50, 100, nil},
		}
		for _, tt := range tests {
			r, err := n.store.EventsAfter(ctx, "r", tt.after, tt.limit)
			if err != nil {
				t.Fatalf("EventsAfter(%d, %d): got %v, want nil", tt.after, tt.limit, err)
			}
			var got []int64
			for _, ev := range r.Events {
				got = append(got, ev.Seq)
				if ev.RoomID != "r" {
					t.Errorf("EventsAfter(%d, %d): got an event of room %s", tt.after, tt.limit, ev.RoomID)
				}
			}
			if !slices.Equal(got, tt.want) || r.HeadSeq != 10 || r.OldestSeq != 1 {
				t.Errorf("EventsAfter(%d, %d): got %v, head %d, oldest %d; want %v, 10, 1", tt.after, tt.limit, got, r.HeadSeq, r.OldestSeq, tt.want)
			}
		}
		if head := must[int64](t, "Head")(n.store.Head(ctx, "other")); head != 2 {
			t.Errorf("Head(other): got %d, want 2 (seqs are per room)", head)
		}
		if _, err := n.store.Head(ctx, "nope"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("Head(nope): got %v, want %v", err, models.ErrNotFound)
		}
		if _, err := n.store.EventsAfter(ctx, "nope", 0, 10); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("EventsAfter(nope): got %v, want %v", err, models.ErrNotFound)
		}
		closed, err := models.Open(ctx, dsn, models.OpenOptions{})
		if err != nil {
			t.Fatalf("Open: got %v, want nil", err)
		}
		if err := closed.Close(); err != nil {
			t.Fatalf("Close: got %v, want nil", err)
		}
		if _, err := closed.Head(ctx, "r"); !errors.Is(err, models.ErrUnavailable) {
			t.Errorf("Head on a closed store: got %v, want %v", err, models.ErrUnavailable)
		}
	})
}

// TestHeads reads many rooms' heads in one call: open rooms only, however
// many ids are asked for (more than SQLite's 32,766 variables) and whatever
// characters they hold.
func TestHeads(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		n := openNode(t, dsn, models.Options{})
		setupRoom(t, n, "r", bob)  // 1, 2
		send(t, n, bob, "r", "hi") // 3
		setupRoom(t, n, "other")
		setupRoom(t, n, "gone")
		check(t, "CloseRoom", n.chat.CloseRoom(ctx, owner, "gone"))
		many := []string{"r", "other", "gone", "nope", `it's "odd", {é}`, "r"}
		for i := range 40_000 {
			many = append(many, fmt.Sprintf("absent-%d", i))
		}
		want := map[string]int64{"r": 3, "other": 1}
		for _, ids := range [][]string{{"r", "other", "gone", "nope"}, many} {
			got, err := n.store.Heads(ctx, ids)
			if err != nil {
				t.Fatalf("Heads(%d ids): got error %v, want nil", len(ids), err)
			}
			if !maps.Equal(got, want) {
				t.Errorf("Heads(%d ids): got %v, want %v", len(ids), got, want)
			}
		}
		if got, err := n.store.Heads(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("Heads(none): got %v, %v; want an empty map, nil", got, err)
		}
		closed, err := models.Open(ctx, dsn, models.OpenOptions{})
		if err != nil {
			t.Fatalf("Open: got %v, want nil", err)
		}
		check(t, "Close", closed.Close())
		if _, err := closed.Heads(ctx, []string{"r"}); !errors.Is(err, models.ErrUnavailable) {
			t.Errorf("Heads on a closed store: got %v, want %v", err, models.ErrUnavailable)
		}
	})
}

// TestCloseAndRecreate: a closed room is gone with its state; a new room with
// its id starts empty and its seqs continue above the old ones.
func TestCloseAndRecreate(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		n := openNode(t, dsn, models.Options{})
		setupRoom(t, n, "r", bob)                                                               // 1, 2
		send(t, n, bob, "r", "old")                                                             // 3
		must[*models.Mute](t, "Mute")(n.chat.Mute(ctx, owner, "r", bob.UserID, time.Hour, nil)) // 4
		if err := n.chat.CloseRoom(ctx, bob, "r"); !errors.Is(err, models.ErrForbidden) {
			t.Errorf("CloseRoom by a participant: got %v, want %v", err, models.ErrForbidden)
		}
		check(t, "CloseRoom", n.chat.CloseRoom(ctx, owner, "r")) // 5
		evs := n.rec.events("r")
		if last := evs[len(evs)-1]; last.Type != models.EventRoomClosed || last.Seq != 5 {
			t.Errorf("last notification: got #%d %s, want #5 %s", last.Seq, last.Type, models.EventRoomClosed)
		}
		if _, err := n.store.Head(ctx, "r"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("Head of a closed room: got %v, want %v", err, models.ErrNotFound)
		}
		if _, err := n.chat.History(ctx, bob, "r", models.HistoryQuery{}); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("History of a closed room: got %v, want %v", err, models.ErrNotFound)
		}
		if _, _, err := n.chat.Send(ctx, owner, "r", models.SendInput{Content: "x"}); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("Send to a closed room: got %v, want %v", err, models.ErrNotFound)
		}

		room, created, err := n.chat.CreateRoom(ctx, carol, "r", "Carol's")
		if err != nil || !created || room.OwnerID != carol.UserID || room.LastSeq != 6 {
			t.Fatalf("CreateRoom again: got %+v, created=%v, %v; want carol's room at seq 6", room, created, err)
		}
		r, got := logSeqs(t, n.store, "r")
		if !slices.Equal(got, []int64{6}) || r.OldestSeq != 6 {
			t.Errorf("new room's log: got %v, oldest %d; want [6], 6", got, r.OldestSeq)
		}
		if _, err := n.chat.History(ctx, bob, "r", models.HistoryQuery{}); !errors.Is(err, models.ErrNotParticipant) {
			t.Errorf("History by a member of the old room: got %v, want %v", err, models.ErrNotParticipant)
		}
		must3[*models.Participant](t, "Join")(n.chat.Join(ctx, bob, "r")) // 7
		m := send(t, n, bob, "r", "new")                                  // 8: the old mute is gone
		if m.Seq != 8 {
			t.Errorf("first message of the new room: got seq %d, want 8", m.Seq)
		}
		page := must[*models.HistoryPage](t, "History")(n.chat.History(ctx, bob, "r", models.HistoryQuery{}))
		if len(page.Messages) != 1 || page.Messages[0].Content != "new" || page.HeadSeq != 8 {
			t.Errorf("History of the new room: got %d messages, head %d; want only \"new\", head 8", len(page.Messages), page.HeadSeq)
		}
	})
}

// sendConcurrently has users send per messages each, spread over the nodes,
// while a reader checks that every snapshot of the log is dense: commit order
// is seq order. It returns the seqs of the messages sent.
func sendConcurrently(t *testing.T, nodes []*node, room string, users []models.Actor, per int) []int64 {
	t.Helper()
	ctx := context.Background()
	stop := make(chan struct{})
	readerDone := make(chan error, 1)
	go func() {
		var snapshots int
		for {
			select {
			case <-stop:
				t.Logf("%d snapshots read, all dense", snapshots)
				readerDone <- nil
				return
			default:
			}
			r, err := nodes[0].store.EventsAfter(ctx, room, 0, 100000)
			if err == nil {
				err = denseSnapshot(r)
			}
			if err != nil {
				readerDone <- err
				return
			}
			snapshots++
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var seqs []int64
	errs := make(chan error, len(users)*per)
	for i, u := range users {
		n := nodes[i%len(nodes)]
		wg.Go(func() {
			for j := range per {
				m, _, err := n.chat.Send(ctx, u, room, models.SendInput{Content: fmt.Sprintf("%s #%d", u.UserID, j)})
				if err != nil {
					errs <- fmt.Errorf("%s send %d: %w", u.UserID, j, err)
					continue
				}
				mu.Lock()
				seqs = append(seqs, m.Seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Errorf("concurrent send: got %v, want nil", err)
	}
	if err := <-readerDone; err != nil {
		t.Errorf("a snapshot of the log was not dense: %v", err)
	}
	slices.Sort(seqs)
	return seqs
}

// TestConcurrentSends has 32 users send at once: no error, no duplicate seq,
// no gap.
func TestConcurrentSends(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		n := openNode(t, dsn, models.Options{HistoryLimit: 1000})
		users := make([]models.Actor, 32)
		for i := range users {
			users[i] = models.Actor{UserID: fmt.Sprintf("user-%02d", i)}
		}
		setupRoom(t, n, "r", users...) // 1..33
		seqs := sendConcurrently(t, []*node{n}, "r", users, 4)
		if want := seqRange(34, 33+32*4); !slices.Equal(seqs, want) {
			t.Errorf("message seqs: got %v, want 34..%d each once", seqs, 33+32*4)
		}
		_, got := logSeqs(t, n.store, "r")
		if want := seqRange(1, 33+32*4); !slices.Equal(got, want) {
			t.Errorf("log: got %d events, want 1..%d", len(got), 33+32*4)
		}
		notified := n.rec.events("r")
		var ns []int64
		for _, ev := range notified {
			ns = append(ns, ev.Seq)
		}
		slices.Sort(ns)
		if !slices.Equal(ns, got) {
			t.Errorf("notified seqs: got %d events, want each of the log's once", len(ns))
		}
	})
}

// TestPostgresNodes runs several nodes, each with its own store, against one
// PostgreSQL database: senders on one room from every node get dense seqs,
// committed in seq order, none twice.
func TestPostgresNodes(t *testing.T) {
	t.Parallel()
	dsn := postgresOnly(t)
	nodes := make([]*node, 3)
	for i := range nodes {
		nodes[i] = openNode(t, dsn, models.Options{HistoryLimit: 1000})
	}
	users := make([]models.Actor, 24)
	for i := range users {
		users[i] = models.Actor{UserID: fmt.Sprintf("user-%02d", i)}
	}
	must3[*models.Room](t, "CreateRoom")(nodes[0].chat.CreateRoom(context.Background(), owner, "r", "shared"))
	for i, u := range users {
		must3[*models.Participant](t, "Join")(nodes[i%len(nodes)].chat.Join(context.Background(), u, "r"))
	}
	head := int64(1 + len(users))
	const per = 5
	seqs := sendConcurrently(t, nodes, "r", users, per)
	last := head + int64(len(users)*per)
	if want := seqRange(head+1, last); !slices.Equal(seqs, want) {
		t.Errorf("message seqs: got %v, want %d..%d each once", seqs, head+1, last)
	}
	_, got := logSeqs(t, nodes[1].store, "r")
	if want := seqRange(1, last); !slices.Equal(got, want) {
		t.Errorf("log: got %d events, want 1..%d", len(got), last)
	}
	var all []int64
	for i, n := range nodes {
		for _, ev := range n.rec.events("r") {
			all = append(all, ev.Seq)
		}
		t.Logf("node %d notified %d events", i, len(n.rec.events("r")))
	}
	slices.Sort(all)
	if !slices.Equal(all, got) {
		t.Errorf("notifications over all nodes: got %d, want each of the %d events once", len(all), len(got))
	}
}
