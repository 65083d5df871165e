package models

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// SendInput is a new message as the client sent it; Content is not yet
// normalised.
type SendInput struct {
	Content  string
	ClientID *string
	ReplyTo  *string
	// Mentions are user ids the message mentions: participants of the
	// room, at most MaxMentions distinct ones; repeats are folded.
	Mentions []string
}

// maxClientIDLength bounds client ids, in code points.
const maxClientIDLength = 64

// printable reports whether an id a client sent is valid UTF-8 without control
// characters: PostgreSQL cannot even compare a string holding NUL, and an id
// is no place for a newline.
func printable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r == '\n' || r == '\t' || isForbiddenControl(r) {
			return false
		}
	}
	return true
}

// Send posts a message. A retry with a client id the sender already used in the
// room returns the original (created=false) and emits nothing; the same client
// id with other content is ErrConflict.
func (c *Chat) Send(ctx context.Context, actor Actor, roomID string, in SendInput) (msg *Message, created bool, err error) {
	defer func(start time.Time) { c.opts.Observer.SendDone(time.Since(start), outcome(err)) }(time.Now())
	content, err := NormalizeContent(in.Content, c.opts.MaxMessageLength)
	if err != nil {
		return nil, false, err
	}
	if in.ClientID != nil {
		if n := utf8.RuneCountInString(*in.ClientID); n < 1 || n > maxClientIDLength || !printable(*in.ClientID) {
			return nil, false, Invalidf("client_id must be 1–%d printable characters", maxClientIDLength)
		}
	}
	if in.ReplyTo != nil && (*in.ReplyTo == "" || len(*in.ReplyTo) > 64 || !printable(*in.ReplyTo)) {
		return nil, false, Invalidf("reply_to is not a message of this room")
	}
	mentions, err := cleanMentions(in.Mentions)
	if err != nil {
		return nil, false, err
	}
	err = c.send(ctx, actor, sendKey{room: roomID, user: actor.UserID, clientID: in.ClientID}, func(t *txEvents, s *standing) error {
		msg, created = nil, false // a batch rolled back runs its sends again
		if err := s.requireMember(); err != nil {
			return err
		}
		prev, err := t.sentBefore(roomID, actor.UserID, in.ClientID)
		switch {
		case err != nil:
			return err
		case prev != nil && (prev.SentAs(content) || prev.IsDeleted):
			// A copy: a PostgreSQL batch hands every retry of one client
			// id the same cached message, and each answer fills in its
			// own caller's reactions (below).
			orig := *prev
			msg = &orig
			return nil
		case prev != nil:
			return WithDetail(ErrConflict, "client_id %q was already used for another message", *in.ClientID)
		}
		if err := s.postCheck(c.opts.SendRate, true); err != nil {
			return err
		}
		if in.ReplyTo != nil {
			var n int64
			if err := t.db.Model(&Message{}).Where("id = ? AND room_id = ?", *in.ReplyTo, roomID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return Invalidf("reply_to is not a message of this room")
			}
		}
		// Before the seq is taken: a refusal then leaves nothing behind
		// (see sendBatcher).
		if err := checkMentioned(t.db, roomID, mentions, nil); err != nil {
			return err
		}
		seq, err := t.nextSeq(roomID)
		if err != nil {
			return err
		}
		msg = &Message{ID: newID(), RoomID: roomID, Seq: seq, SenderID: actor.UserID, SenderName: senderName(s),
			Content: content, CreatedAt: s.at, ReplyTo: in.ReplyTo, ClientID: in.ClientID, Mentions: mentions}
		if err := t.insert(insertMessage, msg.ID, msg.RoomID, msg.Seq, msg.SenderID, msg.SenderName, msg.Content, msg.CreatedAt,
			msg.EditedAt, msg.ReplyTo, msg.IsDeleted, msg.ClientID, msg.Mentions); err != nil {
			return err
		}
		if err := s.recordPost(t.txn, c.opts.SendRate, true); err != nil {
			return err
		}
		if err := t.append(&Event{RoomID: roomID, Seq: seq, Type: EventMessageCreated, Time: s.at, MessageID: msg.ID, Payload: msg}); err != nil {
			return err
		}
		if err := t.notifyMentioned(msg, newlyMentioned(mentions, nil, actor.UserID), s.at); err != nil {
			return err
		}
		created = true
		return t.atCommitOrSoon("prune:"+roomID, func(t *txn) error { return t.prune(roomID, c.opts.HistoryLimit) })
	})
	if err == nil && !created && msg != nil {
		// A retry answers with the original as it is now, reactions
		// included; a read after the write keeps the send batch free of it.
		err = c.store.read(ctx, func(tx *gorm.DB) error {
			tallies, err := loadReactions(tx, []string{msg.ID}, actor.UserID)
			msg.Reactions = tallies[msg.ID]
			return err
		})
	}
	return msg, created, err
}

func senderName(s *standing) string {
	if s.part != nil {
		return s.part.Name
	}
	return displayName(s.actor)
}

// HistoryQuery selects a page of history: the newest messages, those before a
// seq (newest first), or those after a seq (oldest first).
type HistoryQuery struct {
	Limit  int
	Before *int64
	After  *int64
}

// History limits.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// HistoryPage is a page of messages with the room's head seq from the same
// snapshot.
type HistoryPage struct {
	Messages []Message
	HasMore  bool
	HeadSeq  int64
}

// History reads a page of a room's messages.
func (c *Chat) History(ctx context.Context, actor Actor, roomID string, q HistoryQuery) (*HistoryPage, error) {
	if q.Limit == 0 {
		q.Limit = DefaultPageSize
	}
	switch {
	case q.Limit < 1 || q.Limit > MaxPageSize:
		return nil, Invalidf("limit must be 1–%d", MaxPageSize)
	case q.Before != nil && q.After != nil:
		return nil, Invalidf("give before or after, not both")
	case q.Before != nil && *q.Before < 1, q.After != nil && *q.After < 0:
		return nil, Invalidf("before must be ≥ 1 and after ≥ 0")
	}
	var page HistoryPage
	err := c.member(ctx, actor, roomID, func(tx *gorm.DB, s *standing) error {
		page.HeadSeq = s.room.LastSeq
		// From oldest_seq on: a pinned message older than that is kept for
		// the pin (Room.pinned), not for history.
		db := tx.Where("room_id = ? AND seq >= ?", roomID, s.room.OldestSeq).Limit(q.Limit + 1)
		switch {
		case q.After != nil:
			db = db.Where("seq > ?", *q.After).Order("seq ASC")
		case q.Before != nil:
			db = db.Where("seq < ?", *q.Before).Order("seq DESC")
		default:
			db = db.Order("seq DESC")
		}
		if err := db.Find(&page.Messages).Error; err != nil {
			return err
		}
		if len(page.Messages) > q.Limit {
			page.Messages, page.HasMore = page.Messages[:q.Limit], true
		}
		return fillReactions(tx, page.Messages, actor.UserID)
	})
	return &page, err
}

// GetMessage returns one message of the room; a deleted one as its tombstone.
func (c *Chat) GetMessage(ctx context.Context, actor Actor, roomID, id string) (*Message, error) {
	var m Message
	err := c.member(ctx, actor, roomID, func(tx *gorm.DB, _ *standing) error {
		if err := messageErr(tx.Where("id = ? AND room_id = ?", id, roomID).Take(&m).Error); err != nil {
			return err
		}
		tallies, err := loadReactions(tx, []string{m.ID}, actor.UserID)
		m.Reactions = tallies[m.ID]
		return err
	})
	return &m, err
}

func messageErr(err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return WithDetail(ErrNotFound, "no such message in this room")
	}
	return err
}

// Edit changes the content of the sender's own message, under the same checks
// as a send but slow mode. With mentions (not nil) it replaces the message's
// mentions: users it mentioned before may stay though they have left, new
// ones must be participants, and only the new ones are notified. Without, the
// mentions stay as they were.
func (c *Chat) Edit(ctx context.Context, actor Actor, roomID, id, content string, mentions []string) (*Message, error) {
	content, err := NormalizeContent(content, c.opts.MaxMessageLength)
	if err != nil {
		return nil, err
	}
	newMentions, err := cleanMentions(mentions)
	if err != nil {
		return nil, err
	}
	var m Message
	err = c.write(ctx, actor, roomID, func(t *txEvents, s *standing) error {
		if err := s.requireMember(); err != nil {
			return err
		}
		if err := messageErr(t.db.Where("id = ? AND room_id = ?", id, roomID).Take(&m).Error); err != nil {
			return err
		}
		if m.IsDeleted {
			return WithDetail(ErrNotFound, "the message was deleted")
		}
		if m.SenderID != actor.UserID {
			return WithDetail(ErrForbidden, "only the sender may edit a message")
		}
		if err := s.postCheck(c.opts.SendRate, false); err != nil {
			return err
		}
		changes := map[string]any{"content": content, "edited_at": &s.at}
		var notify []string
		if newMentions != nil {
			if err := checkMentioned(t.db, roomID, newMentions, m.Mentions); err != nil {
				return err
			}
			notify = newlyMentioned(newMentions, m.Mentions, actor.UserID)
			m.Mentions, changes["mentions"] = newMentions, newMentions
		}
		if m.ClientID != nil && m.SentSHA256 == nil { // the first edit: keep what a retried send is compared with
			sent := contentSHA256(m.Content)
			m.SentSHA256, changes["sent_sha256"] = &sent, sent
		}
		m.Content, m.EditedAt = content, &s.at
		if err := t.db.Model(&m).Updates(changes).Error; err != nil {
			return err
		}
		if err := s.recordPost(t.txn, c.opts.SendRate, false); err != nil {
			return err
		}
		tallies, err := loadReactions(t.db, []string{m.ID}, actor.UserID)
		if err != nil {
			return err
		}
		m.Reactions = tallies[m.ID]
		if err := t.emit(&Event{RoomID: roomID, Type: EventMessageUpdated, MessageID: m.ID, Payload: &m}); err != nil {
			return err
		}
		return t.notifyMentioned(&m, notify, s.at)
	})
	return &m, err
}

// DeleteMessage deletes a message for good: the sender may delete their own, a
// moderator or above any message of a user they outrank. The text is erased
// from the message and from every event that carried it. Deleting a deleted
// message does nothing.
func (c *Chat) DeleteMessage(ctx context.Context, actor Actor, roomID, id string) error {
	return c.write(ctx, actor, roomID, func(t *txEvents, s *standing) error {
		if err := s.requireMember(); err != nil {
			return err
		}
		var m Message
		if err := messageErr(t.db.Where("id = ? AND room_id = ?", id, roomID).Take(&m).Error); err != nil {
			return err
		}
		if m.SenderID != actor.UserID {
			if _, err := modTarget(t.db, s, m.SenderID); err != nil {
				return err
			}
		}
		if m.IsDeleted {
			return nil
		}
		// Who it mentioned goes with the text: a tombstone says nothing.
		m.Content, m.IsDeleted, m.SentSHA256, m.Mentions = "", true, nil, nil
		if err := t.db.Model(&m).Updates(map[string]any{"content": "", "is_deleted": true, "sent_sha256": nil,
			"mentions": UserIDs(nil)}).Error; err != nil {
			return err
		}
		if err := dropReactions(t.db, m.ID); err != nil {
			return err
		}
		if err := dropNotifications(t.db, m.ID); err != nil {
			return err
		}
		if err := c.eraseFromLog(t.db, &m); err != nil {
			return err
		}
		if err := t.emit(&Event{RoomID: roomID, Type: EventMessageDeleted, MessageID: m.ID,
			Payload: MessageDeleted{ID: m.ID, Seq: m.Seq, DeletedBy: actor.UserID}}); err != nil {
			return err
		}
		if p := s.room.PinnedID; p != nil && *p == m.ID {
			if err := setPin(t, s, nil); err != nil {
				return err
			}
		}
		if m.SenderID == actor.UserID {
			return nil
		}
		return t.log(&LogEntry{Action: LogDelete, ActorID: actor.UserID, TargetID: &m.SenderID, MessageID: &m.ID})
	})
}

// eraseFromLog re-encodes every logged event that carried m's text (its
// creation, its edits, its pins) with the tombstone instead, so a replay
// never serves it again.
func (c *Chat) eraseFromLog(tx *gorm.DB, m *Message) error {
	var rows []EventRow
	err := tx.Where("room_id = ? AND message_id = ? AND type IN ?", m.RoomID, m.ID,
		[]string{EventMessageCreated, EventMessageUpdated, EventRoomPinned}).Find(&rows).Error
	if err != nil {
		return err
	}
	for _, r := range rows {
		var payload any = m
		if r.Type == EventRoomPinned {
			by, err := pinnedBy(r.Data)
			if err != nil {
				return err
			}
			payload = RoomPinned{Message: m, By: by}
		}
		data, err := c.encode(&Event{RoomID: r.RoomID, Seq: r.Seq, Type: r.Type, Time: r.CreatedAt, MessageID: m.ID, Payload: payload})
		if err != nil {
			return err
		}
		if err := tx.Model(&EventRow{}).Where("room_id = ? AND seq = ?", r.RoomID, r.Seq).Update("data", string(data)).Error; err != nil {
			return err
		}
	}
	return nil
}
