package models

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Event types of the room stream.
const (
	EventMessageCreated    = "message.created"
	EventMessageUpdated    = "message.updated"
	EventMessageDeleted    = "message.deleted"
	EventParticipantJoined = "participant.joined"
	EventParticipantLeft   = "participant.left"
	EventParticipantRole   = "participant.role_changed"
	EventUserMuted         = "user.muted"
	EventUserUnmuted       = "user.unmuted"
	EventUserBanned        = "user.banned"
	EventUserUnbanned      = "user.unbanned"
	EventRoomChatUpdated   = "room.chat_updated"
	EventRoomClosed        = "room.closed"
	EventHistoryReset      = "history.reset"
	EventAuthExpired       = "auth.expired"
)

// Reasons a participant leaves.
const (
	LeftSelf   = "left"
	LeftKicked = "kicked"
	LeftBanned = "banned"
)

// Event is something that happened in a room, with its place in the room's
// sequence. Payload is one of *Message, MessageDeleted, *Participant,
// ParticipantLeft, MuteChange, BanChange, ChatChange, RoomClosed, or nil for
// the per-stream events; Data is the envelope as encoded by Chat's encoder.
type Event struct {
	RoomID    string
	Seq       int64
	Type      string
	Time      time.Time
	TargetID  string
	MessageID string
	Payload   any
	Data      []byte
}

// MessageDeleted is the payload of message.deleted.
type MessageDeleted struct {
	ID        string
	Seq       int64
	DeletedBy string
}

// ParticipantLeft is the payload of participant.left.
type ParticipantLeft struct {
	UserID string
	Reason string
}

// MuteChange is the payload of user.muted (Until set) and user.unmuted.
type MuteChange struct {
	UserID string
	Until  *time.Time
	By     string
	Reason *string
}

// BanChange is the payload of user.banned and user.unbanned.
type BanChange struct {
	UserID string
	Until  *time.Time
	By     string
	Reason *string
}

// ChatChange is the payload of room.chat_updated.
type ChatChange struct {
	LockedUntil     *time.Time
	SlowModeSeconds int
	By              string
}

// RoomClosed is the payload of room.closed.
type RoomClosed struct {
	By string
}

// HistoryReset is the payload of history.reset.
type HistoryReset struct {
	OldestSeq int64
}

// EndsStream reports whether ev ends the stream of user: the room closing, or
// the user being removed from it. A platform admin (admin) may stream any room
// without joining it and is never refused, so only the room closing ends an
// admin's stream: not a leave, nor a kick or ban that reached them before the
// server knew them as an admin.
func EndsStream(evType, targetID, userID string, admin bool) bool {
	switch evType {
	case EventRoomClosed:
		return true
	case EventParticipantLeft, EventUserBanned:
		return targetID == userID && !admin
	}
	return false
}

// Notifier receives a transaction's events, in seq order, after it commits. A
// failure to deliver is the notifier's to log: the events are in the log and
// clients recover them by Last-Event-ID.
type Notifier interface {
	Notify(ctx context.Context, evs []*Event)
}

// Encoder turns an event into its wire envelope; the api package provides it.
type Encoder func(*Event) ([]byte, error)

// nextSeq advances the room's counter inside tx and returns the new value.
// The row lock this takes orders concurrent writers of one room, so seq order
// is commit order on PostgreSQL too. In a send on the SQLite writer the seq
// comes from the send cache and reaches the row at the end of the transaction.
func nextSeq(tx *gorm.DB, roomID string) (int64, error) {
	if c := cacheOf(tx); c != nil {
		if seq, ok := c.nextSeq(roomID); ok {
			return seq, nil
		}
	}
	var seq int64
	err := tx.Raw("UPDATE rooms SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq", roomID).Scan(&seq).Error
	return seq, err
}

// txEvents collects a transaction's events for the notifier.
type txEvents struct {
	chat   *Chat
	tx     *gorm.DB
	roomID string
	evs    []*Event
}

// emit gives ev the room's next seq and writes it to the event log.
func (t *txEvents) emit(ev *Event) error {
	ev.RoomID = t.roomID
	seq, err := nextSeq(t.tx, ev.RoomID)
	if err != nil {
		return err
	}
	ev.Seq = seq
	return t.append(ev)
}

// append writes ev, whose Seq is already set, to the event log.
func (t *txEvents) append(ev *Event) error {
	if ev.Time.IsZero() {
		ev.Time = now()
	}
	data, err := t.chat.encode(ev)
	if err != nil {
		return err
	}
	ev.Data = data
	row := EventRow{RoomID: ev.RoomID, Seq: ev.Seq, Type: ev.Type, Data: string(data), CreatedAt: ev.Time,
		TargetID: optional(ev.TargetID), MessageID: optional(ev.MessageID)}
	if err := insert(t.tx, insertEvent, row.RoomID, row.Seq, row.Type, row.TargetID, row.MessageID, row.Data, row.CreatedAt); err != nil {
		return err
	}
	t.evs = append(t.evs, ev)
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// insertRow is an INSERT of one row, written out rather than built by gorm
// from a struct: every event and every send runs one, and gorm's builder
// allocated more than the rest of a send. A batch of sends on PostgreSQL
// writes its rows of one table with one statement (see sendCache.addRow).
type insertRow struct{ into, row, tail string }

// sql is the statement for n rows.
func (s *insertRow) sql(n int) string {
	return s.into + " VALUES " + strings.Repeat(s.row+", ", n-1) + s.row + s.tail
}

var (
	insertEvent = &insertRow{into: "INSERT INTO events (room_id, seq, type, target_id, message_id, data, created_at)",
		row: "(?, ?, ?, ?, ?, ?, ?)"}
	insertMessage = &insertRow{
		into: "INSERT INTO messages (id, room_id, seq, sender_id, sender_name, content, created_at, edited_at, reply_to, is_deleted, client_id)",
		row:  "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"}
	upsertSendLimit = &insertRow{into: "INSERT INTO send_limits (room_id, user_id, last_post_at, tokens, tokens_at)",
		row: "(?, ?, ?, ?, ?)",
		tail: " ON CONFLICT (room_id, user_id) DO UPDATE SET last_post_at = excluded.last_post_at, tokens = excluded.tokens," +
			" tokens_at = excluded.tokens_at"}
	// oneRow holds each statement for one row, built once: execSQL keys
	// the SQLite writer's prepared statements by their text.
	oneRow = map[*insertRow]string{insertEvent: insertEvent.sql(1), insertMessage: insertMessage.sql(1),
		upsertSendLimit: upsertSendLimit.sql(1)}
)

// insert writes one row with s in tx, or leaves it to the send cache to write
// with the batch's other rows.
func insert(tx *gorm.DB, s *insertRow, args ...any) error {
	if c := cacheOf(tx); c != nil && c.addRow(s, args) {
		return nil
	}
	_, err := execSQL(tx, oneRow[s], args...)
	return err
}

// Replay is a slice of a room's event log.
type Replay struct {
	Events []EventRow
	// OldestSeq is the first seq still kept; events before it are gone.
	OldestSeq int64
	// HeadSeq is the room's newest seq when the slice was read.
	HeadSeq int64
}

// EventsAfter reads up to limit events of a room with seq > after, oldest
// first, with the room's retention bounds from the same snapshot. It checks no
// access: the stream checks that when it opens, and the broadcaster uses it to
// fill gaps.
func (s *Store) EventsAfter(ctx context.Context, roomID string, after int64, limit int) (*Replay, error) {
	var out Replay
	err := s.read(ctx, func(tx *gorm.DB) error {
		var r Room
		if err := tx.Select("last_seq", "oldest_seq").Where("id = ? AND closed_at IS NULL", roomID).Take(&r).Error; err != nil {
			return err
		}
		out.OldestSeq, out.HeadSeq = r.OldestSeq, r.LastSeq
		return tx.Where("room_id = ? AND seq > ?", roomID, after).Order("seq").Limit(limit).Find(&out.Events).Error
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Head returns the room's newest seq, or ErrNotFound.
func (s *Store) Head(ctx context.Context, roomID string) (int64, error) {
	var r Room
	err := s.read(ctx, func(tx *gorm.DB) error {
		return tx.Select("last_seq").Where("id = ? AND closed_at IS NULL", roomID).Take(&r).Error
	})
	return r.LastSeq, err
}

// Heads returns the newest seq of each open room among ids, in one statement
// however many there are: the broadcaster checks every room a node serves this
// way, so idle rooms cost the database nothing each. A closed or unknown room
// is missing from the result.
func (s *Store) Heads(ctx context.Context, ids []string) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	defer func(start time.Time) { s.observer.StoreDone("read", time.Since(start)) }(time.Now())
	// One parameter holds the whole list, so no variable limit applies
	// (SQLite allows 32,766) and the statement's text is always the same.
	query, arg := headsSQLite, any(nil)
	if s.pg {
		query, arg = headsPostgres, textArray(ids)
	} else {
		list, err := json.Marshal(ids)
		if err != nil {
			return nil, err
		}
		arg = string(list)
	}
	rows, err := s.r.WithContext(ctx).Raw(query, arg).Rows()
	if err != nil {
		return nil, storeErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, storeErr(err)
		}
		out[id] = seq
	}
	return out, storeErr(rows.Err())
}

const (
	headsPostgres = "SELECT id, last_seq FROM rooms WHERE id = ANY(?) AND closed_at IS NULL"
	headsSQLite   = "SELECT id, last_seq FROM rooms WHERE id IN (SELECT value FROM json_each(?)) AND closed_at IS NULL"
)

// textArray reaches PostgreSQL as one text[] parameter (pgx encodes the
// []string); gorm would expand a plain slice into a parameter per element.
type textArray []string

// Value implements driver.Valuer.
func (a textArray) Value() (driver.Value, error) { return []string(a), nil }
