package api

import (
	"encoding/json"
	"fmt"

	"github.com/resonate/resonate-chat/models"
)

// Envelope is the JSON of every SSE data line.
type Envelope struct {
	Type      string `json:"type" example:"message.created"`
	RoomID    string `json:"room_id" example:"voice-42"`
	Seq       int64  `json:"seq" example:"17"`
	Timestamp string `json:"timestamp" format:"date-time"`
	Data      any    `json:"data"`
}

// MessageDeletedData is the data of message.deleted.
type MessageDeletedData struct {
	ID        string `json:"id"`
	Seq       int64  `json:"seq"`
	DeletedBy string `json:"deleted_by"`
}

// ReactionCount is one emoji's count in message.reactions.
type ReactionCount struct {
	Emoji string `json:"emoji" example:"👍"`
	Count int    `json:"count" example:"3"`
}

// MessageReactionsData is the data of message.reactions: the message's
// whole new tally, in order of first use.
type MessageReactionsData struct {
	ID        string          `json:"id"`
	Seq       int64           `json:"seq"`
	Reactions []ReactionCount `json:"reactions"`
}

// ParticipantLeftData is the data of participant.left.
type ParticipantLeftData struct {
	UserID string `json:"user_id"`
	Reason string `json:"reason" enums:"left,kicked,banned"`
}

// UserMutedData is the data of user.muted.
type UserMutedData struct {
	UserID string  `json:"user_id"`
	Until  *string `json:"until"`
	By     string  `json:"by"`
	Reason *string `json:"reason"`
}

// UserUnmutedData is the data of user.unmuted and user.unbanned.
type UserUnmutedData struct {
	UserID string `json:"user_id"`
	By     string `json:"by"`
}

// ChatUpdatedData is the data of room.chat_updated.
type ChatUpdatedData struct {
	LockedUntil     *string `json:"locked_until"`
	SlowModeSeconds int     `json:"slow_mode_seconds"`
	By              string  `json:"by"`
}

// RoomClosedData is the data of room.closed.
type RoomClosedData struct {
	By string `json:"by"`
}

// RoomPinnedData is the data of room.pinned: the message now pinned, or
// null when the pin was removed.
type RoomPinnedData struct {
	Message *RoomMessage `json:"message"`
	By      string       `json:"by"`
}

// HistoryResetData is the data of history.reset.
type HistoryResetData struct {
	OldestSeq int64 `json:"oldest_seq"`
}

// EncodeEvent encodes an event as its envelope; it is the models.Encoder.
func EncodeEvent(ev *models.Event) ([]byte, error) {
	var data any
	switch p := ev.Payload.(type) {
	case *models.Message:
		data = newEventMessage(p)
	case models.MessageReactions:
		counts := make([]ReactionCount, len(p.Reactions))
		for i, r := range p.Reactions {
			counts[i] = ReactionCount{Emoji: r.Emoji, Count: r.Count}
		}
		data = MessageReactionsData{ID: p.ID, Seq: p.Seq, Reactions: counts}
	case *models.Participant:
		data = NewParticipant(p)
	case models.MessageDeleted:
		data = MessageDeletedData{ID: p.ID, Seq: p.Seq, DeletedBy: p.DeletedBy}
	case models.ParticipantLeft:
		data = ParticipantLeftData{UserID: p.UserID, Reason: p.Reason}
	case models.MuteChange:
		if ev.Type == models.EventUserUnmuted {
			data = UserUnmutedData{UserID: p.UserID, By: p.By}
		} else {
			data = UserMutedData{UserID: p.UserID, Until: Time(p.Until), By: p.By, Reason: p.Reason}
		}
	case models.BanChange:
		if ev.Type == models.EventUserUnbanned {
			data = UserUnmutedData{UserID: p.UserID, By: p.By}
		} else {
			data = UserMutedData{UserID: p.UserID, Until: Time(p.Until), By: p.By, Reason: p.Reason}
		}
	case models.ChatChange:
		data = ChatUpdatedData{LockedUntil: Time(p.LockedUntil), SlowModeSeconds: p.SlowModeSeconds, By: p.By}
	case models.RoomClosed:
		data = RoomClosedData{By: p.By}
	case models.RoomPinned:
		d := RoomPinnedData{By: p.By}
		if p.Message != nil {
			m := newEventMessage(p.Message)
			d.Message = &m
		}
		data = d
	case models.HistoryReset:
		data = HistoryResetData{OldestSeq: p.OldestSeq}
	case nil:
		data = struct{}{}
	default:
		return nil, fmt.Errorf("api: no encoding for %T", p)
	}
	return json.Marshal(Envelope{Type: ev.Type, RoomID: ev.RoomID, Seq: ev.Seq, Timestamp: ts(ev.Time), Data: data})
}
