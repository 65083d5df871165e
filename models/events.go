package models

import (
	"context"
	"time"
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
	EventRoomPinned        = "room.pinned"
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
// ParticipantLeft, MuteChange, BanChange, ChatChange, RoomClosed,
// MessageReactions, RoomPinned, or nil for the per-stream events; Data is
// the envelope as encoded by Chat's encoder.
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

// RoomPinned is the payload of room.pinned: the message now pinned, nil
// when the pin was removed.
type RoomPinned struct {
	Message *Message
	By      string
}

// HistoryReset is the payload of history.reset.
type HistoryReset struct {
	OldestSeq int64
}

// StreamEnd says which streams of its room an event ends once it is written
// to them: every one (All: the room closed), or User's (User banned, leaving
// or removed). A platform admin may stream any room without joining it and is
// never refused, so User's streams end unless User is a platform admin: a
// leave, kick or ban that reached an admin before the server knew them as
// one ends nothing.
type StreamEnd struct {
	All  bool
	User string
}

// EndsStreams is the StreamEnd of an event of evType about targetID. It is
// decided once per event, as the event is published or read from the log;
// each stream then only compares it with its own user.
func EndsStreams(evType, targetID string) StreamEnd {
	switch evType {
	case EventRoomClosed:
		return StreamEnd{All: true}
	case EventParticipantLeft, EventUserBanned:
		return StreamEnd{User: targetID}
	}
	return StreamEnd{}
}

// Notifier receives a transaction's events, in seq order, after it commits. A
// failure to deliver is the notifier's to log: the events are in the log and
// clients recover them by Last-Event-ID.
type Notifier interface {
	Notify(ctx context.Context, evs []*Event)
}

// Encoder turns an event into its wire envelope; the api package provides it.
type Encoder func(*Event) ([]byte, error)

// txEvents collects a transaction's events for the notifier.
type txEvents struct {
	*txn
	chat   *Chat
	roomID string
	evs    []*Event
	// outboxed says the transaction wrote notifications (see outbox).
	outboxed bool
}

// emit gives ev the room's next seq and writes it to the event log.
func (t *txEvents) emit(ev *Event) error {
	ev.RoomID = t.roomID
	seq, err := t.nextSeq(ev.RoomID)
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
	if err := t.insert(insertEvent, row.RoomID, row.Seq, row.Type, row.TargetID, row.MessageID, row.Data, row.CreatedAt); err != nil {
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
