package models_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/resonate/resonate-chat/models"
)

// TestMentionsInBatches: sends that share one transaction (the SQLite
// writer's group commit, a PostgreSQL batch) are each checked on their own:
// one mentioning a stranger is refused with invalid, the others commit with
// their mentions and write one outbox row per user mentioned, none for the
// refused send.
func TestMentionsInBatches(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		var mu sync.Mutex
		var notified []string
		opts := models.Options{Notify: func(n *models.Notification) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			if p, ok := n.Payload.(models.MessageMentioned); ok {
				notified = append(notified, p.Message.Content+" → "+p.UserID)
			}
			return []byte(`{}`), nil
		}}
		n := openNode(t, dsn, opts)
		setupRoom(t, n, "r", bob)
		const sends = 16
		errs := make([]error, sends)
		var wg sync.WaitGroup
		for i := range sends {
			wg.Go(func() {
				mentions := []string{"bob", "alice"}
				if i == 5 {
					mentions = []string{"bob", "stranger"}
				}
				_, _, errs[i] = n.chat.Send(ctx, owner, "r", models.SendInput{Content: fmt.Sprint("m", i), Mentions: mentions})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if want := i == 5; errors.Is(err, models.ErrInvalid) != want || (!want && err != nil) {
				t.Errorf("send %d: got %v, want invalid only for the stranger's", i, err)
			}
		}
		page := must[*models.HistoryPage](t, "History")(n.chat.History(ctx, bob, "r", models.HistoryQuery{}))
		if len(page.Messages) != sends-1 {
			t.Fatalf("history holds %d messages, want %d", len(page.Messages), sends-1)
		}
		for _, m := range page.Messages {
			if !slices.Equal(m.Mentions, models.UserIDs{"bob", "alice"}) {
				t.Errorf("%s: mentions %v, want [bob alice]", m.Content, m.Mentions)
			}
		}
		st, err := n.store.Outbox(ctx)
		if err != nil || st.Depth != sends-1 {
			t.Errorf("outbox: %d rows (%v), want %d: one per send, for bob; none for alice, the sender", st.Depth, err, sends-1)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, s := range notified {
			if s == "m5 → bob" || s[len(s)-5:] == "alice" {
				t.Errorf("a notification was made for %q", s)
			}
		}
	})
}
