package models_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// TestSendSeesEveryRuleAtOnce: each change of a rule applies to the very next
// send, on both databases (on SQLite the sends go through the writer's send
// cache, which every other write empties).
func TestSendSeesEveryRuleAtOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		n := openNode(t, dsn, models.Options{})
		setupRoom(t, n, "r", bob)
		try := func(step string, want error) {
			t.Helper()
			_, _, err := n.chat.Send(ctx, bob, "r", models.SendInput{Content: step})
			if !errors.Is(err, want) {
				t.Fatalf("send after %s: got %v, want %v", step, err, want)
			}
		}
		try("join", nil)
		must[*models.Mute](t, "Mute")(n.chat.Mute(ctx, owner, "r", bob.UserID, time.Minute, nil))
		try("mute", models.ErrMuted)
		check(t, "Unmute", n.chat.Unmute(ctx, owner, "r", bob.UserID))
		try("unmute", nil)
		until := time.Now().Add(time.Hour)
		must[*models.Room](t, "lock")(n.chat.UpdateChat(ctx, owner, "r", models.ChatUpdate{SetLock: true, LockedUntil: &until}))
		try("lock", models.ErrChatLocked)
		must[*models.Room](t, "unlock")(n.chat.UpdateChat(ctx, owner, "r", models.ChatUpdate{SetLock: true}))
		try("unlock", nil)
		slow := 60
		must[*models.Room](t, "slow mode")(n.chat.UpdateChat(ctx, owner, "r", models.ChatUpdate{SlowModeSeconds: &slow}))
		try("slow mode", models.ErrRateLimited) // the last send was a moment ago
		must[*models.Participant](t, "SetRole")(n.chat.SetRole(ctx, owner, "r", bob.UserID, models.RoleModerator))
		try("promotion", nil) // moderators are exempt from slow mode
		must[*models.Participant](t, "SetRole")(n.chat.SetRole(ctx, owner, "r", bob.UserID, models.RoleParticipant))
		try("demotion", models.ErrRateLimited)
		off := 0
		must[*models.Room](t, "slow mode off")(n.chat.UpdateChat(ctx, owner, "r", models.ChatUpdate{SlowModeSeconds: &off}))
		try("slow mode off", nil)
		check(t, "RemoveParticipant", n.chat.RemoveParticipant(ctx, owner, "r", bob.UserID))
		try("kick", models.ErrNotParticipant)
		must3[*models.Participant](t, "Join")(n.chat.Join(ctx, bob, "r"))
		try("rejoin", nil)
		must[*models.Ban](t, "Ban")(n.chat.Ban(ctx, owner, "r", bob.UserID, nil, nil))
		try("ban", models.ErrBanned)
		check(t, "Unban", n.chat.Unban(ctx, owner, "r", bob.UserID))
		try("unban", models.ErrNotParticipant) // a ban also removes
		must3[*models.Participant](t, "Join")(n.chat.Join(ctx, bob, "r"))
		try("join again", nil)
		check(t, "CloseRoom", n.chat.CloseRoom(ctx, owner, "r"))
		try("close", models.ErrNotFound)
	})
}

// TestSendCacheSurvivesRestart: the seq and flood bucket a send changed reach
// the database, so a new process continues from them.
func TestSendCacheSurvivesRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "chat.db")
	opts := models.Options{SendRate: models.Rate{Count: 3, Per: time.Hour}}
	first, err := models.Open(ctx, dsn, models.OpenOptions{})
	check(t, "Open", err)
	n := &node{store: first, chat: models.NewChat(first, nopEncode, &recorder{}, withDefaults(opts))}
	setupRoom(t, n, "r", bob)
	var last *models.Message
	for i := 0; i < 3; i++ {
		last = send(t, n, bob, "r", "hi")
	}
	check(t, "Close", first.Close())

	n = openNode(t, dsn, opts)
	if _, _, err := n.chat.Send(ctx, bob, "r", models.SendInput{Content: "one too many"}); !errors.Is(err, models.ErrRateLimited) {
		t.Fatalf("fourth send after a restart: got %v, want %v (the flood bucket was lost)", err, models.ErrRateLimited)
	}
	m := send(t, n, owner, "r", "next")
	if m.Seq != last.Seq+1 {
		t.Errorf("seq after a restart: got %d, want %d", m.Seq, last.Seq+1)
	}
	logSeqs(t, n.store, "r")
}

// TestSendsFailingMidBatch: when the database fills up under concurrent
// sends, the sends that fail leave no trace (no seq taken, nothing notified)
// and the ones acknowledged are all there, densely numbered, before and after
// space returns.
func TestSendsFailingMidBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := openNode(t, filepath.Join(t.TempDir(), "chat.db"), models.Options{HistoryLimit: 100000})
	setupRoom(t, n, "r", bob, carol)
	pages := must[int64](t, "PageCount")(n.store.PageCount(ctx))
	must[int64](t, "SetMaxPages")(n.store.SetMaxPages(ctx, pages+2))

	var mu sync.Mutex
	acked := map[int64]string{}
	failed := 0
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				m, _, err := n.chat.Send(ctx, []models.Actor{bob, carol}[w%2], "r", models.SendInput{Content: "filling the disk with words"})
				mu.Lock()
				switch {
				case err == nil:
					acked[m.Seq] = m.ID
				case errors.Is(err, models.ErrUnavailable):
					failed++
				default:
					t.Errorf("send: got %v, want nil or %v", err, models.ErrUnavailable)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed == 0 {
		t.Fatalf("no send failed: the database never filled (max pages %d)", pages+2)
	}
	must[int64](t, "SetMaxPages")(n.store.SetMaxPages(ctx, 0x7fffffff))
	after := send(t, n, bob, "r", "space again")
	acked[after.Seq] = after.ID

	r, seqs := logSeqs(t, n.store, "r") // dense from 1 to head
	created := 0
	for _, ev := range r.Events {
		if ev.Type == models.EventMessageCreated {
			created++
			if id, ok := acked[ev.Seq]; !ok || ev.MessageID == nil || id != *ev.MessageID {
				t.Errorf("log #%d: message %v was never acknowledged with that seq", ev.Seq, ev.MessageID)
			}
		}
	}
	if created != len(acked) {
		t.Errorf("log holds %d messages, %d were acknowledged (%d failed)", created, len(acked), failed)
	}
	if notified := n.rec.events("r"); len(notified) != len(seqs) {
		t.Errorf("notified %d events, the log holds %d", len(notified), len(seqs))
	}
	t.Logf("%d acknowledged, %d failed while full", len(acked)-1, failed)
}

// TestSendRolledBackAlone: a send that fails after taking its seq (here: its
// event cannot be encoded) is rolled back alone, in the middle of a batch, and
// its seq is taken by the next send, so the log stays dense.
func TestSendRolledBackAlone(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, err := models.Open(ctx, dsn, models.OpenOptions{})
		check(t, "Open", err)
		t.Cleanup(func() { _ = st.Close() })
		rec := &recorder{}
		encode := func(ev *models.Event) ([]byte, error) {
			if m, ok := ev.Payload.(*models.Message); ok && m.Content == "boom" {
				return nil, errors.New("cannot encode")
			}
			return api.EncodeEvent(ev)
		}
		n := &node{store: st, chat: models.NewChat(st, encode, rec, models.Options{MaxMessageLength: 2000, HistoryLimit: 100000}), rec: rec}
		setupRoom(t, n, "r", bob, carol)
		var wg sync.WaitGroup
		var mu sync.Mutex
		acked := 0
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 40; i++ {
					content := "fine"
					if (w+i)%3 == 0 {
						content = "boom"
					}
					_, _, err := n.chat.Send(ctx, []models.Actor{bob, carol}[w%2], "r", models.SendInput{Content: content})
					if (err == nil) != (content == "fine") {
						t.Errorf("send %q: got %v", content, err)
					}
					if err == nil {
						mu.Lock()
						acked++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		r, _ := logSeqs(t, n.store, "r") // dense: no seq was lost to a failed send
		created := 0
		for _, ev := range r.Events {
			if ev.Type == models.EventMessageCreated {
				created++
			}
		}
		if created != acked {
			t.Errorf("log holds %d messages, %d were acknowledged", created, acked)
		}

		// Nor does a failed send spend the sender's flood bucket.
		limited := models.NewChat(st, encode, rec, models.Options{MaxMessageLength: 2000, HistoryLimit: 100000,
			SendRate: models.Rate{Count: 2, Per: time.Hour}})
		dave := models.Actor{UserID: "dave", Name: "Dave"}
		must3[*models.Participant](t, "Join")(limited.Join(ctx, dave, "r"))
		for i, content := range []string{"boom", "boom", "boom", "fine", "fine", "fine"} {
			_, _, err := limited.Send(ctx, dave, "r", models.SendInput{Content: content})
			if want := i == 5; errors.Is(err, models.ErrRateLimited) != want {
				t.Errorf("send %d (%s) with a flood limit of 2: got %v, want rate limited: %v", i+1, content, err, want)
			}
		}
	})
}

// TestMuteRacesSends: sends from the cache and mutes from other writes share
// batches; no message of a muted user is ever accepted, judged by the log's
// own order.
func TestMuteRacesSends(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		n := openNode(t, dsn, models.Options{HistoryLimit: 100000})
		setupRoom(t, n, "r", bob, carol)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					_, _, err := n.chat.Send(ctx, []models.Actor{bob, carol}[w%2], "r", models.SendInput{Content: "x"})
					if err != nil && !errors.Is(err, models.ErrMuted) {
						t.Errorf("send: got %v, want nil or %v", err, models.ErrMuted)
						return
					}
				}
			}()
		}
		for i := 0; i < 30; i++ {
			must[*models.Mute](t, "Mute")(n.chat.Mute(ctx, owner, "r", bob.UserID, time.Hour, nil))
			check(t, "Unmute", n.chat.Unmute(ctx, owner, "r", bob.UserID))
		}
		close(stop)
		wg.Wait()

		r, _ := logSeqs(t, n.store, "r")
		muted, accepted := false, 0
		for _, ev := range r.Events {
			switch {
			case ev.Type == models.EventUserMuted:
				muted = true
			case ev.Type == models.EventUserUnmuted:
				muted = false
			case ev.Type == models.EventMessageCreated && muted && senderOf(t, n, ev) == bob.UserID:
				t.Errorf("log #%d: bob's message accepted while he was muted", ev.Seq)
			}
			if ev.Type == models.EventMessageCreated {
				accepted++
			}
		}
		if accepted == 0 {
			t.Fatal("no message was accepted at all")
		}
	})
}

func senderOf(t *testing.T, n *node, ev models.EventRow) string {
	t.Helper()
	m := must[*models.Message](t, "GetMessage")(n.chat.GetMessage(context.Background(), owner, ev.RoomID, *ev.MessageID))
	return m.SenderID
}

func nopEncode(*models.Event) ([]byte, error) { return []byte("{}"), nil }

func withDefaults(o models.Options) models.Options {
	o.MaxMessageLength, o.HistoryLimit = 2000, 100
	return o
}
