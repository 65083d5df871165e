package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// Reaction events are coalesced. A reaction write changes the reactions
// table and marks the message's tally dirty (reaction_tallies) in its own
// transaction, and emits nothing. A flusher per Chat then emits, for each
// dirty message that is due, one message.reactions event with the whole
// tally as it is then, in a transaction of its own that takes the room's
// next seq, clears the mark and sets the next due time a second on. So a
// burst of reactions to one message yields about one event a second, the
// last event carries the last tally, and the events are ordinary room
// events: in the log, in seq order, replayed by Last-Event-ID.
//
// With many nodes, each flusher claims rows under the room's lock (the
// UPDATE … WHERE dirty … RETURNING runs after the lock is held, so it sees
// what another node's flush committed): a tally goes out once per due time,
// whichever node gets there first. A mark is only cleared in the
// transaction that emits its event, so a node that stops (or crashes) with
// marks left leaves them to the next flush of any node, or of itself on
// restart.

// reactionEvery is the least time between two message.reactions events of
// one message: the contract's "about one event a second".
const reactionEvery = time.Second

// reactionSweep is how often a flusher looks for dirty tallies it was not
// told of: those another node left, or that a stop left behind. Its own
// writes wake it at once (kick), so this only bounds how late those are.
const reactionSweep = time.Second

// reactionFlushTimeout bounds one flush, so that a stuck database cannot
// hold up the store's close for long.
const reactionFlushTimeout = 10 * time.Second

// reactionFlusher wakes the flush loop when a reaction write commits.
type reactionFlusher struct {
	wake chan struct{}
}

func newReactionFlusher() reactionFlusher {
	return reactionFlusher{wake: make(chan struct{}, 1)}
}

// kick wakes the flush loop; it never blocks.
func (f reactionFlusher) kick() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// flushReactions is the flush loop: it runs until stop is closed (by
// Store.Close, which waits for it).
func (c *Chat) flushReactions(stop <-chan struct{}) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-c.reactions.wake:
		case <-timer.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), reactionFlushTimeout)
		next, err := c.FlushReactions(ctx)
		cancel()
		if err != nil {
			next = reactionSweep // the marks stay; try again
		}
		timer.Stop()
		timer.Reset(min(next, reactionSweep))
	}
}

// FlushReactions emits a message.reactions event for every dirty tally that
// is due, and says how long until the next one is due (reactionSweep when
// none is waiting). The flush loop calls it; it is safe to call from any
// number of nodes at once.
func (c *Chat) FlushReactions(ctx context.Context) (time.Duration, error) {
	type pending struct {
		RoomID string
		Due    int64
	}
	var rooms []pending
	err := c.store.read(ctx, func(tx *gorm.DB) error {
		return tx.Raw(`SELECT room_id, MIN(due_ms) AS due FROM reaction_tallies WHERE dirty
 GROUP BY room_id ORDER BY due LIMIT 500`).Scan(&rooms).Error
	})
	if err != nil {
		return 0, err
	}
	next := reactionSweep
	nowMS := time.Now().UnixMilli()
	for _, r := range rooms {
		if wait := time.Duration(r.Due-nowMS) * time.Millisecond; wait > 0 {
			next = min(next, wait)
			continue
		}
		if err := c.flushRoom(ctx, r.RoomID); err != nil {
			return 0, err
		}
	}
	return max(next, 10*time.Millisecond), nil
}

// flushRoom emits the due tallies of one room in one transaction.
func (c *Chat) flushRoom(ctx context.Context, roomID string) error {
	return c.writeEvents(ctx, c.roomWrite(roomID), roomID, func(t *txEvents) error {
		if _, err := t.lockRoom(roomID); err != nil {
			if storeErr(err) == ErrNotFound { // closed: its messages, and so its tallies, are gone
				return nil
			}
			return err
		}
		at := now()
		var ids []string
		err := t.db.Raw(`UPDATE reaction_tallies SET dirty = FALSE, due_ms = ?
 WHERE room_id = ? AND dirty AND due_ms <= ? RETURNING message_id`,
			at.Add(reactionEvery).UnixMilli(), roomID, at.UnixMilli()).Scan(&ids).Error
		if err != nil || len(ids) == 0 {
			return err
		}
		var ms []Message
		if err := t.db.Select("id", "seq").Where("id IN ? AND NOT is_deleted", ids).Order("seq").Find(&ms).Error; err != nil {
			return err
		}
		tallies, err := loadReactions(t.db, ids, "")
		if err != nil {
			return err
		}
		for _, m := range ms {
			if err := t.emit(&Event{Type: EventMessageReactions, Time: at, MessageID: m.ID,
				Payload: MessageReactions{ID: m.ID, Seq: m.Seq, Reactions: tallies[m.ID]}}); err != nil {
				return err
			}
		}
		return nil
	})
}
