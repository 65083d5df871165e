package models

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// MaxReactionEmoji is how many distinct emoji one message may hold.
const MaxReactionEmoji = 20

// EventMessageReactions carries a message's whole new tally. Changes to one
// message's reactions are folded into at most one such event a second (see
// reactionFlusher).
const EventMessageReactions = "message.reactions"

// Reaction is one emoji's tally on a message, in order of first use. Me says
// whether the caller reacted so; it is never sent in events.
type Reaction struct {
	Emoji string
	Count int
	Me    bool
}

// MessageReactions is the payload of message.reactions: the tally of the
// message ID, whose message.created had seq Seq.
type MessageReactions struct {
	ID        string
	Seq       int64
	Reactions []Reaction
}

// ReactionLimit is a user's reaction flood bucket in a room, apart from the
// send one so that reacting does not use up posting.
type ReactionLimit struct {
	RoomID   string `gorm:"primaryKey"`
	UserID   string `gorm:"primaryKey"`
	Tokens   float64
	TokensAt time.Time
}

// TableName names the reaction limits table.
func (ReactionLimit) TableName() string { return "reaction_limits" }

// React adds actor's reaction emoji to a message, under the checks of a
// send but slow mode, and with the reaction flood limit. Reacting again is a
// no-op that answers the same. It returns the message's tally, with Me
// filled for actor.
func (c *Chat) React(ctx context.Context, actor Actor, roomID, msgID, emoji string) ([]Reaction, error) {
	if err := ValidEmoji(emoji); err != nil {
		return nil, err
	}
	return c.reactWrite(ctx, actor, roomID, msgID, func(t *txEvents, s *standing, m *Message) (bool, error) {
		var mine, distinct int64
		err := t.db.Raw(`SELECT COALESCE(SUM(CASE WHEN user_id = ? THEN 1 ELSE 0 END), 0),
 (SELECT COUNT(DISTINCT emoji) FROM reactions WHERE message_id = ? AND emoji <> ?)
 FROM reactions WHERE message_id = ? AND emoji = ?`, actor.UserID, m.ID, emoji, m.ID, emoji).Row().Scan(&mine, &distinct)
		switch {
		case err != nil:
			return false, err
		case mine > 0:
			return false, nil
		case distinct >= MaxReactionEmoji:
			return false, WithDetail(ErrConflict, "a message holds at most %d distinct emoji", MaxReactionEmoji)
		}
		if err := c.spendReaction(t.txn, s); err != nil {
			return false, err
		}
		return true, t.db.Exec("INSERT INTO reactions (message_id, emoji, user_id, created_at) VALUES (?, ?, ?, ?)",
			m.ID, emoji, actor.UserID, s.at).Error
	})
}

// Unreact removes actor's own reaction emoji from a message; removing one
// that is not there does nothing.
func (c *Chat) Unreact(ctx context.Context, actor Actor, roomID, msgID, emoji string) error {
	if err := ValidEmoji(emoji); err != nil {
		return err
	}
	_, err := c.reactWrite(ctx, actor, roomID, msgID, func(t *txEvents, s *standing, m *Message) (bool, error) {
		var mine int64
		if err := t.db.Raw("SELECT COUNT(*) FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?",
			m.ID, emoji, actor.UserID).Scan(&mine).Error; err != nil || mine == 0 {
			return false, err
		}
		if err := c.spendReaction(t.txn, s); err != nil {
			return false, err
		}
		return true, t.db.Exec("DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?", m.ID, emoji, actor.UserID).Error
	})
	return err
}

// ClearReactions removes every reaction from a message: a moderator or above
// who outranks its sender (or is the sender), as for deleting it.
func (c *Chat) ClearReactions(ctx context.Context, actor Actor, roomID, msgID string) error {
	changed := false
	err := c.write(ctx, actor, roomID, func(t *txEvents, s *standing) error {
		changed = false
		if err := s.requireRank(rankModerator); err != nil {
			return err
		}
		m, err := liveMessage(t.db, roomID, msgID)
		if err != nil {
			return err
		}
		if m.SenderID != actor.UserID {
			if _, err := modTarget(t.db, s, m.SenderID); err != nil {
				return err
			}
		}
		res := t.db.Exec("DELETE FROM reactions WHERE message_id = ?", m.ID)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		changed = true
		return markTallyDirty(t.txn, m, s.at)
	})
	if err == nil && changed {
		c.reactions.kick()
	}
	return err
}

// reactWrite runs a reaction change of actor's: the checks of a send but
// slow mode and the flood limit, then change, which says whether it changed
// the tally (and then has spent a reaction token). It marks the tally dirty
// for the flusher and returns the tally as actor sees it.
func (c *Chat) reactWrite(ctx context.Context, actor Actor, roomID, msgID string,
	change func(t *txEvents, s *standing, m *Message) (bool, error)) ([]Reaction, error) {
	var out []Reaction
	changed := false
	err := c.write(ctx, actor, roomID, func(t *txEvents, s *standing) error {
		changed = false
		if err := s.requireMember(); err != nil {
			return err
		}
		m, err := liveMessage(t.db, roomID, msgID)
		if err != nil {
			return err
		}
		if err := s.postCheck(Rate{}, false); err != nil { // mute and chat lock; the flood limit is the reactions' own
			return err
		}
		if changed, err = change(t, s, m); err != nil {
			return err
		}
		if changed {
			if err := markTallyDirty(t.txn, m, s.at); err != nil {
				return err
			}
		}
		tallies, err := loadReactions(t.db, []string{m.ID}, actor.UserID)
		out = tallies[m.ID]
		return err
	})
	if err == nil && changed {
		c.reactions.kick()
	}
	return out, err
}

// liveMessage loads a message of the room that is not deleted.
func liveMessage(tx *gorm.DB, roomID, id string) (*Message, error) {
	var m Message
	if err := messageErr(tx.Where("id = ? AND room_id = ?", id, roomID).Take(&m).Error); err != nil {
		return nil, err
	}
	if m.IsDeleted {
		return nil, WithDetail(ErrNotFound, "the message was deleted")
	}
	return &m, nil
}

// spendReaction checks the reaction flood limit and spends a token;
// moderators and above are exempt, as from the send limit.
func (c *Chat) spendReaction(t *txn, s *standing) error {
	r := c.opts.ReactionRate
	if r.Count == 0 || s.actor.Admin || s.rank() >= rankModerator {
		return nil
	}
	var l ReactionLimit
	err := t.db.Where("room_id = ? AND user_id = ?", s.room.ID, s.actor.UserID).Take(&l).Error
	found := err == nil
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return err
	}
	tokens := float64(r.Count)
	if found {
		tokens = min(tokens, l.Tokens+s.at.Sub(l.TokensAt).Seconds()*refillPerSecond(r))
	}
	if tokens < 1 {
		wait := time.Duration((1 - tokens) / refillPerSecond(r) * float64(time.Second))
		next := s.at.Add(wait)
		return Restricted(WithDetail(ErrRateLimited, "reaction flood limit: %d reactions per %s", r.Count, r.Per), &next, wait)
	}
	l = ReactionLimit{RoomID: s.room.ID, UserID: s.actor.UserID, Tokens: tokens - 1, TokensAt: s.at}
	if !found {
		return t.db.Create(&l).Error
	}
	return t.db.Model(&ReactionLimit{}).Where("room_id = ? AND user_id = ?", l.RoomID, l.UserID).
		Updates(map[string]any{"tokens": l.Tokens, "tokens_at": l.TokensAt}).Error
}

// markTallyDirty notes that m's tally changed: the flusher emits its event
// when the row is due. A message without a row is due at once; one whose
// event went out less than a second ago keeps the due time the flusher set.
func markTallyDirty(t *txn, m *Message, at time.Time) error {
	return t.db.Exec(`INSERT INTO reaction_tallies (message_id, room_id, dirty, due_ms) VALUES (?, ?, TRUE, ?)
 ON CONFLICT (message_id) DO UPDATE SET dirty = TRUE`, m.ID, m.RoomID, at.UnixMilli()).Error
}

// dropReactions removes a deleted message's reactions and its pending
// tally: a deleted message has none.
func dropReactions(tx *gorm.DB, msgID string) error {
	if err := tx.Exec("DELETE FROM reactions WHERE message_id = ?", msgID).Error; err != nil {
		return err
	}
	return tx.Exec("DELETE FROM reaction_tallies WHERE message_id = ?", msgID).Error
}

// loadReactions reads the tallies of the messages ids, each in order of
// first use, with Me set for userID ("" for none).
func loadReactions(tx *gorm.DB, ids []string, userID string) (map[string][]Reaction, error) {
	out := make(map[string][]Reaction, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.Raw(`SELECT message_id, emoji, COUNT(*), MAX(CASE WHEN user_id = ? THEN 1 ELSE 0 END)
 FROM reactions WHERE message_id IN ? GROUP BY message_id, emoji ORDER BY message_id, MIN(id)`, userID, ids).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var r Reaction
		var me int
		if err := rows.Scan(&id, &r.Emoji, &r.Count, &me); err != nil {
			return nil, err
		}
		r.Me = me == 1
		out[id] = append(out[id], r)
	}
	return out, rows.Err()
}

// fillReactions sets the Reactions of ms from the database, Me for userID.
func fillReactions(tx *gorm.DB, ms []Message, userID string) error {
	ids := make([]string, len(ms))
	for i := range ms {
		ids[i] = ms[i].ID
	}
	tallies, err := loadReactions(tx, ids, userID)
	if err != nil {
		return err
	}
	for i := range ms {
		ms[i].Reactions = tallies[ms[i].ID]
	}
	return nil
}
