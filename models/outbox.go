package models

import (
	"context"
	"database/sql"
	"time"

	"gorm.io/gorm"
)

// Webhook notifications go out through an outbox. A use case that causes one
// (a mention, a room closing) writes it to the notifications table in its
// own transaction, so a crash after the commit loses none; a sender on each
// node (package webhook) claims due rows, posts them, and deletes each once
// the receiver took it. The store side of that is here; the rules of who is
// notified stay with the use cases.

// Notification types.
const (
	NotifyMessageMentioned = "message.mentioned"
	NotifyRoomClosed       = "room.closed"
)

// Notification is one webhook notification as a use case makes it. Payload
// is MessageMentioned or RoomClosed.
type Notification struct {
	ID        string
	Type      string
	RoomID    string
	Time      time.Time
	MessageID string
	Payload   any
}

// MessageMentioned is the payload of message.mentioned: UserID was
// mentioned in Message.
type MessageMentioned struct {
	UserID  string
	Message *Message
}

// NotificationEncoder turns a notification into the JSON body its receiver
// gets; the api package provides it.
type NotificationEncoder func(*Notification) ([]byte, error)

var insertNotification = &insertRow{
	into: "INSERT INTO notifications (id, type, room_id, message_id, body, created_ms, due_ms, attempts, claim)",
	row:  "(?, ?, ?, ?, ?, ?, ?, 0, NULL)"}

// outbox writes n to the outbox in the transaction, when webhooks are on
// (Options.Notify); the sender is woken once the transaction commits.
func (t *txEvents) outbox(n *Notification) error {
	encode := t.chat.opts.Notify
	if encode == nil {
		return nil
	}
	n.ID, n.RoomID = newID(), t.roomID
	if n.Time.IsZero() {
		n.Time = now()
	}
	body, err := encode(n)
	if err != nil {
		return err
	}
	ms := n.Time.UnixMilli()
	if err := t.insert(insertNotification, n.ID, n.Type, n.RoomID, optional(n.MessageID), string(body), ms, ms); err != nil {
		return err
	}
	t.outboxed = true
	return nil
}

// notifyMentioned writes a message.mentioned notification, made at, for
// each user.
func (t *txEvents) notifyMentioned(m *Message, users []string, at time.Time) error {
	for _, u := range users {
		if err := t.outbox(&Notification{Type: NotifyMessageMentioned, Time: at, MessageID: m.ID,
			Payload: MessageMentioned{UserID: u, Message: m}}); err != nil {
			return err
		}
	}
	return nil
}

// dropNotifications deletes the notifications of a message not yet
// delivered: a deleted message is not pushed to anyone.
func dropNotifications(tx *gorm.DB, messageID string) error {
	return tx.Exec("DELETE FROM notifications WHERE message_id = ?", messageID).Error
}

// ClaimedNotification is a notification a sender has claimed: no other
// sender takes it until the lease it was claimed with ends.
type ClaimedNotification struct {
	ID        string
	Body      string
	Claim     string
	CreatedMs int64 `gorm:"column:created_ms"`
	Attempts  int
}

// Created is when the notification was made.
func (n *ClaimedNotification) Created() time.Time { return time.UnixMilli(n.CreatedMs) }

// ClaimNotifications claims up to limit due notifications, oldest due
// first, for lease: until it ends they are not due to anyone else. On
// PostgreSQL, FOR UPDATE SKIP LOCKED makes the claims of two nodes at the
// same moment take different rows instead of waiting for each other; the
// lease then keeps a claimed row from every other node while it is sent.
// SQLite has one writer, so claims never race there.
func (s *Store) ClaimNotifications(ctx context.Context, limit int, lease time.Duration) ([]ClaimedNotification, error) {
	var out []ClaimedNotification
	at := time.Now()
	claim := newID()
	lock := ""
	if s.pg {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	err := s.write(ctx, func(t *txn) error {
		out = out[:0]
		return t.db.Raw(`UPDATE notifications SET due_ms = ?, claim = ? WHERE id IN
 (SELECT id FROM notifications WHERE due_ms <= ? ORDER BY due_ms LIMIT ?`+lock+`)
 RETURNING id, body, claim, created_ms, attempts`, at.Add(lease).UnixMilli(), claim, at.UnixMilli(), limit).Scan(&out).Error
	})
	return out, err
}

// NotificationDelivered deletes a notification its receiver took.
func (s *Store) NotificationDelivered(ctx context.Context, n *ClaimedNotification) error {
	return s.write(ctx, func(t *txn) error {
		_, err := t.exec("DELETE FROM notifications WHERE id = ?", n.ID)
		return err
	})
}

// NotificationFailed makes a claimed notification due again at due, one
// attempt on; nothing, if its claim has ended and another sender has it.
func (s *Store) NotificationFailed(ctx context.Context, n *ClaimedNotification, due time.Time) error {
	return s.write(ctx, func(t *txn) error {
		_, err := t.exec("UPDATE notifications SET due_ms = ?, attempts = attempts + 1, claim = NULL WHERE id = ? AND claim = ?",
			due.UnixMilli(), n.ID, n.Claim)
		return err
	})
}

// NotificationAbandoned deletes a claimed notification a sender gave up on.
func (s *Store) NotificationAbandoned(ctx context.Context, n *ClaimedNotification) error {
	return s.write(ctx, func(t *txn) error {
		_, err := t.exec("DELETE FROM notifications WHERE id = ? AND claim = ?", n.ID, n.Claim)
		return err
	})
}

// OutboxState is what the outbox holds: how many notifications wait, since
// when the oldest, and when the next is due (zero times when none wait).
type OutboxState struct {
	Depth   int64
	Oldest  time.Time
	NextDue time.Time
}

// Outbox reads the outbox's state, from the reader: a sender looks at it
// before it claims, so an idle outbox costs no write.
func (s *Store) Outbox(ctx context.Context) (OutboxState, error) {
	var st OutboxState
	err := s.read(ctx, func(tx *gorm.DB) error {
		var oldest, due sql.NullInt64
		if err := tx.Raw("SELECT COUNT(*), MIN(created_ms), MIN(due_ms) FROM notifications").Row().Scan(&st.Depth, &oldest, &due); err != nil {
			return err
		}
		if oldest.Valid {
			st.Oldest, st.NextDue = time.UnixMilli(oldest.Int64), time.UnixMilli(due.Int64)
		}
		return nil
	})
	return st, err
}
