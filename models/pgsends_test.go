package models_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/models"
)

// TestBatchedSendsMixedOutcomes sends to one room from many goroutines at once,
// so that sends share batches (PostgreSQL) or group commits (SQLite): a muted
// sender is refused inside a batch without spoiling it, several sends with
// one client id (some in the same batch, where the unique index refuses the
// second row and the batch runs again one by one) store one message and
// answer the others with it, retries of stored client ids are answered with
// the original, and the log stays dense with every acknowledged message once.
func TestBatchedSendsMixedOutcomes(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		n := openNode(t, dsn, models.Options{HistoryLimit: 100000})
		users := make([]models.Actor, 12)
		for i := range users {
			users[i] = models.Actor{UserID: fmt.Sprintf("user-%02d", i)}
		}
		setupRoom(t, n, "r", users...)
		muted := users[0]
		must[*models.Mute](t, "Mute")(n.chat.Mute(ctx, owner, "r", muted.UserID, time.Hour, nil))

		type result struct {
			msg     *models.Message
			created bool
			err     error
		}
		const rounds = 20
		var mu sync.Mutex
		byKey := map[string][]result{} // user/client id → every answer
		var wg sync.WaitGroup
		for i, u := range users {
			for copy := 0; copy < 2; copy++ { // two goroutines per user: same client ids at once
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := 0; r < rounds; r++ {
						cid := fmt.Sprintf("c%d", r)
						m, created, err := n.chat.Send(ctx, u, "r", models.SendInput{Content: fmt.Sprintf("%d says %d", i, r), ClientID: &cid})
						mu.Lock()
						byKey[u.UserID+"/"+cid] = append(byKey[u.UserID+"/"+cid], result{m, created, err})
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()

		acked := map[string]int64{} // message id → seq
		for key, rs := range byKey {
			if len(rs) != 2 {
				t.Fatalf("%s: %d answers, want 2", key, len(rs))
			}
			if key[:len(muted.UserID)] == muted.UserID {
				for _, r := range rs {
					if !errors.Is(r.err, models.ErrMuted) {
						t.Errorf("%s by the muted user: got %v, want %v", key, r.err, models.ErrMuted)
					}
				}
				continue
			}
			if rs[0].err != nil || rs[1].err != nil {
				t.Errorf("%s: got errors %v and %v, want none", key, rs[0].err, rs[1].err)
				continue
			}
			if rs[0].msg.ID != rs[1].msg.ID || rs[0].created == rs[1].created {
				t.Errorf("%s: got messages %s (created %v) and %s (created %v), want one message created once",
					key, rs[0].msg.ID, rs[0].created, rs[1].msg.ID, rs[1].created)
			}
			acked[rs[0].msg.ID] = rs[0].msg.Seq
		}
		if want := (len(users) - 1) * rounds; len(acked) != want {
			t.Errorf("%d messages acknowledged, want %d", len(acked), want)
		}

		r, seqs := logSeqs(t, n.store, "r") // dense
		var notified []int64
		for _, ev := range n.rec.events("r") {
			notified = append(notified, ev.Seq)
		}
		slices.Sort(notified)
		if !slices.Equal(notified, seqs) {
			t.Errorf("notified %d events, the log holds %d: each must be notified once, and nothing rolled back", len(notified), len(seqs))
		}
		created := 0
		for _, ev := range r.Events {
			if ev.Type != models.EventMessageCreated {
				continue
			}
			created++
			if seq, ok := acked[*ev.MessageID]; !ok || seq != ev.Seq {
				t.Errorf("log #%d: message %s was not acknowledged with that seq", ev.Seq, *ev.MessageID)
			}
		}
		if created != len(acked) {
			t.Errorf("the log holds %d messages, %d were acknowledged", created, len(acked))
		}

		// A retry now, after everything committed, is answered with the original.
		cid := "c3"
		m, createdAgain, err := n.chat.Send(ctx, users[5], "r", models.SendInput{Content: "5 says 3", ClientID: &cid})
		if err != nil || createdAgain || acked[m.ID] != m.Seq {
			t.Errorf("late retry: got %v, created %v, err %v; want the original", m, createdAgain, err)
		}
	})
}

// TestPostgresMuteOnOneNodeRefusesNextSendOnAnother: a mute committed through
// node A refuses the very next send through node B, while B's batches are
// busy with other senders of the room.
func TestPostgresMuteOnOneNodeRefusesNextSendOnAnother(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := postgresOnly(t)
	a := openNode(t, dsn, models.Options{HistoryLimit: 1000})
	b := openNode(t, dsn, models.Options{HistoryLimit: 1000})
	busy := []models.Actor{{UserID: "busy-1"}, {UserID: "busy-2"}, {UserID: "busy-3"}}
	setupRoom(t, a, "r", append(busy, bob)...)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, u := range busy {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := b.chat.Send(ctx, u, "r", models.SendInput{Content: "noise"}); err != nil {
					t.Errorf("busy send: %v", err)
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		must[*models.Mute](t, "Mute")(a.chat.Mute(ctx, owner, "r", bob.UserID, time.Hour, nil))
		if _, _, err := b.chat.Send(ctx, bob, "r", models.SendInput{Content: "still here?"}); !errors.Is(err, models.ErrMuted) {
			t.Fatalf("round %d: send on node B right after a mute on node A: got %v, want %v", i, err, models.ErrMuted)
		}
		check(t, "Unmute", a.chat.Unmute(ctx, owner, "r", bob.UserID))
		if _, _, err := b.chat.Send(ctx, bob, "r", models.SendInput{Content: "back"}); err != nil {
			t.Fatalf("round %d: send on node B right after an unmute on node A: got %v, want nil", i, err)
		}
	}
	close(stop)
	wg.Wait()
	_, seqs := logSeqs(t, a.store, "r")
	if !slices.IsSorted(seqs) || len(seqs) == 0 {
		t.Errorf("log seqs not dense and ordered")
	}
}

// TestPostgresSendWaitsForHeldRoom: a send to a room another transaction
// holds is passed over by its first batch and waits in the next; it then runs
// against what that transaction committed (here: the room closed), and sends
// to other rooms meanwhile go on.
func TestPostgresSendWaitsForHeldRoom(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := postgresOnly(t)
	n := openNode(t, dsn, models.Options{HistoryLimit: 1000})
	setupRoom(t, n, "held", bob)
	setupRoom(t, n, "free", bob)
	db, err := sql.Open("pgx", dsn)
	check(t, "open", err)
	defer db.Close()

	for _, closeIt := range []bool{false, true} {
		tx, err := db.BeginTx(ctx, nil)
		check(t, "begin", err)
		_, err = tx.Exec("SELECT id FROM rooms WHERE id = 'held' FOR UPDATE")
		check(t, "lock", err)
		done := make(chan error, 1)
		go func() {
			_, _, err := n.chat.Send(ctx, bob, "held", models.SendInput{Content: "waiting"})
			done <- err
		}()
		// Sends to another room go on while this one waits: the
		// first of them may share the held send's batch.
		for i := range 3 {
			if _, _, err := n.chat.Send(ctx, bob, "free", models.SendInput{Content: fmt.Sprint(i)}); err != nil {
				t.Fatalf("send to another room: %v", err)
			}
		}
		select {
		case err := <-done:
			t.Fatalf("a send to a held room returned before the room was let go: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if closeIt {
			_, err = tx.Exec("UPDATE rooms SET closed_at = now() WHERE id = 'held'")
			check(t, "close", err)
		}
		check(t, "commit", tx.Commit())
		err = <-done
		switch {
		case !closeIt && err != nil:
			t.Fatalf("send once the room was let go: %v", err)
		case closeIt && !errors.Is(err, models.ErrNotFound):
			t.Fatalf("send to a room closed while it waited: got %v, want %v", err, models.ErrNotFound)
		}
		if !closeIt {
			// Dense (logSeqs checks) and ending with the send.
			if r, _ := logSeqs(t, n.store, "held"); r.Events[len(r.Events)-1].Type != "message.created" {
				t.Fatalf("the held room's log ends with %s, want message.created", r.Events[len(r.Events)-1].Type)
			}
		}
	}
}
