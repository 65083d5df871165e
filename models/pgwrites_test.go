package models_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/models"
)

// TestBatchedRoomWritesMixedOutcomes reacts to messages of one room from many
// goroutines at once, on two nodes where the database is PostgreSQL, so that
// the reactions share a room's batches (PostgreSQL) or group commits
// (SQLite): a muted user's reactions are refused inside a batch, the
// distinct emoji past the limit race for the last places and are refused
// with a conflict, and every answer must match what committed: an accepted
// reaction is in the tally, a refused one is not.
func TestBatchedRoomWritesMixedOutcomes(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		nodes := []*models.Chat{openNode(t, dsn, models.Options{}).chat}
		if strings.HasPrefix(dsn, "postgres") {
			nodes = append(nodes, openNode(t, dsn, models.Options{}).chat)
		}
		users := make([]models.Actor, 2*models.MaxReactionEmoji)
		for i := range users {
			users[i] = models.Actor{UserID: fmt.Sprintf("user-%02d", i)}
		}
		n := &node{chat: nodes[0]}
		setupRoom(t, n, "r", users...)
		muted := users[0]
		must[*models.Mute](t, "Mute")(nodes[0].Mute(ctx, owner, "r", muted.UserID, time.Hour, nil))

		const shared = "👍"
		for round := range 3 {
			msg := send(t, n, owner, "r", fmt.Sprintf("round %d", round))
			own := func(i int) string { return string(rune(0x1F600 + i)) } // each user's own emoji
			type answer struct {
				user, emoji string
				err         error
			}
			answers := make(chan answer, 2*len(users))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, u := range users {
				wg.Go(func() {
					<-start
					for _, emoji := range []string{own(i), shared} {
						tally, err := nodes[i%len(nodes)].React(ctx, u, "r", msg.ID, emoji)
						if err == nil && !mine(tally, emoji) {
							t.Errorf("%s reacting %s: answered tally %v lacks it", u.UserID, emoji, tally)
						}
						answers <- answer{u.UserID, emoji, err}
					}
				})
			}
			close(start)
			wg.Wait()
			close(answers)

			got := must[*models.Message](t, "GetMessage")(nodes[0].GetMessage(ctx, owner, "r", msg.ID))
			counts := map[string]int{}
			for _, r := range got.Reactions {
				counts[r.Emoji] = r.Count
			}
			if len(counts) > models.MaxReactionEmoji {
				t.Errorf("round %d: %d distinct emoji stored; the limit is %d", round, len(counts), models.MaxReactionEmoji)
			}
			want := map[string]int{}
			for a := range answers {
				switch {
				case a.user == muted.UserID:
					if !errors.Is(a.err, models.ErrMuted) {
						t.Errorf("muted %s reacting %s: got %v, want muted", a.user, a.emoji, a.err)
					}
				case a.err == nil:
					want[a.emoji]++
				case !errors.Is(a.err, models.ErrConflict):
					t.Errorf("%s reacting %s: got %v, want nil or a conflict", a.user, a.emoji, a.err)
				}
			}
			if fmt.Sprint(counts) != fmt.Sprint(want) {
				t.Errorf("round %d: stored tally %v, but the accepted reactions make %v", round, counts, want)
			}
			if len(want) != models.MaxReactionEmoji {
				t.Errorf("round %d: %d distinct emoji accepted, want the limit %d (more were tried)", round, len(want), models.MaxReactionEmoji)
			}
		}
	})
}

// mine reports whether tally holds emoji with the asker's reaction.
func mine(tally []models.Reaction, emoji string) bool {
	for _, r := range tally {
		if r.Emoji == emoji && r.Me {
			return true
		}
	}
	return false
}
