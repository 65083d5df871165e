package api

import (
	"time"

	"github.com/resonate/resonate-chat/models"
)

// Response types tag every field validate:"required": nothing validates them
// at run time, but swag then marks the field required in the spec, which says
// that it is always present (null when it is nullable). Generated clients get
// non-optional fields, and the end-to-end tests check every response against it.

// CreateRoomRequest creates a room. Without an id the server generates one.
type CreateRoomRequest struct {
	ID   string `json:"id,omitempty" example:"voice-42" pattern:"^[A-Za-z0-9_-]{1,64}$"`
	Name string `json:"name" binding:"required" example:"Friday jam"`
}

// ChatSettings are a room's chat lock and slow mode.
type ChatSettings struct {
	LockedUntil     *string `json:"locked_until" validate:"required" format:"date-time" example:"2026-11-25T10:00:00.000000Z" extensions:"x-nullable"`
	SlowModeSeconds int     `json:"slow_mode_seconds" validate:"required" example:"0"`
}

// Room is a chat room.
type Room struct {
	ID               string       `json:"id" validate:"required" example:"voice-42"`
	Name             string       `json:"name" validate:"required" example:"Friday jam"`
	OwnerID          string       `json:"owner_id" validate:"required" example:"alice"`
	CreatedAt        string       `json:"created_at" validate:"required" format:"date-time" example:"2026-11-25T09:00:00.000000Z"`
	Chat             ChatSettings `json:"chat" validate:"required"`
	ParticipantCount int64        `json:"participant_count" validate:"required" example:"3"`
	// Pinned is the pinned message as it is now (edits and reactions
	// included), or null.
	Pinned *RoomMessage `json:"pinned" validate:"required" extensions:"x-nullable"`
}

// NewRoom converts a room for an answer to a caller.
func NewRoom(r *models.Room) Room {
	out := Room{ID: r.ID, Name: r.Name, OwnerID: r.OwnerID, CreatedAt: ts(r.CreatedAt), ParticipantCount: r.ParticipantCount,
		Chat: ChatSettings{LockedUntil: Time(activeUntil(r.LockedUntil)), SlowModeSeconds: r.SlowModeSeconds}}
	if r.Pinned != nil {
		m := NewMessage(r.Pinned)
		out.Pinned = &m
	}
	return out
}

// PinRequest pins a message of the room.
type PinRequest struct {
	MessageID string `json:"message_id" binding:"required" example:"k7x2m4q9v3n8p1r5t6w0y2z4ab"`
}

// activeUntil hides a time that has passed: a lock or mute that ran out.
func activeUntil(t *time.Time) *time.Time {
	if t == nil || !t.After(time.Now()) {
		return nil
	}
	return t
}

// Participant is a member of a room.
type Participant struct {
	RoomID     string  `json:"room_id" validate:"required" example:"voice-42"`
	UserID     string  `json:"user_id" validate:"required" example:"bob"`
	Name       string  `json:"name" validate:"required" example:"Bob"`
	Role       string  `json:"role" validate:"required" enums:"owner,moderator,participant" example:"participant"`
	JoinedAt   string  `json:"joined_at" validate:"required" format:"date-time" example:"2026-11-25T09:01:00.000000Z"`
	MutedUntil *string `json:"muted_until" validate:"required" format:"date-time" extensions:"x-nullable"`
}

// NewParticipant converts a participant.
func NewParticipant(p *models.Participant) Participant {
	return Participant{RoomID: p.RoomID, UserID: p.UserID, Name: p.Name, Role: p.Role, JoinedAt: ts(p.JoinedAt),
		MutedUntil: Time(activeUntil(p.MutedUntil))}
}

// ParticipantList is the answer of GET …/participants.
type ParticipantList struct {
	Participants []Participant `json:"participants" validate:"required"`
}

// RoomMessage is a chat message. A deleted one keeps its place with empty
// content and is_deleted true.
type RoomMessage struct {
	ID         string  `json:"id" validate:"required" example:"k7x2m4q9v3n8p1r5t6w0y2z4ab"`
	RoomID     string  `json:"room_id" validate:"required" example:"voice-42"`
	Seq        int64   `json:"seq" validate:"required" example:"17"`
	SenderID   string  `json:"sender_id" validate:"required" example:"alice"`
	SenderName string  `json:"sender_name" validate:"required" example:"Alice"`
	Content    string  `json:"content" validate:"required" example:"hello, room"`
	Timestamp  string  `json:"timestamp" validate:"required" format:"date-time" example:"2026-11-25T09:02:03.456789Z"`
	EditedAt   *string `json:"edited_at" validate:"required" format:"date-time" extensions:"x-nullable"`
	ReplyTo    *string `json:"reply_to" validate:"required" extensions:"x-nullable"`
	IsDeleted  bool    `json:"is_deleted" validate:"required" example:"false"`
	ClientID   *string `json:"client_id" validate:"required" extensions:"x-nullable" example:"c-0001"`
	// Reactions is the tally, in order of first use; empty when none.
	Reactions []Reaction `json:"reactions" validate:"required"`
	// Mentions are the user ids the message mentions, in order of first
	// mention; empty when none.
	Mentions []string `json:"mentions" validate:"required" example:"bob"`
}

// NewMessage converts a message for an answer to a caller: its reactions
// say whether the caller made them (me).
func NewMessage(m *models.Message) RoomMessage {
	return RoomMessage{ID: m.ID, RoomID: m.RoomID, Seq: m.Seq, SenderID: m.SenderID, SenderName: m.SenderName,
		Content: m.Content, Timestamp: ts(m.CreatedAt), EditedAt: Time(m.EditedAt), ReplyTo: m.ReplyTo,
		IsDeleted: m.IsDeleted, ClientID: m.ClientID, Reactions: NewReactions(m.Reactions, true),
		Mentions: append([]string{}, m.Mentions...)}
}

// newEventMessage converts a message for an event, which every stream
// shares: its reactions carry no me.
func newEventMessage(m *models.Message) RoomMessage {
	out := NewMessage(m)
	out.Reactions = NewReactions(m.Reactions, false)
	return out
}

// Reaction is one emoji's tally on a message.
type Reaction struct {
	Emoji string `json:"emoji" validate:"required" example:"👍"`
	Count int    `json:"count" validate:"required" example:"3"`
	// Me says whether the caller reacted with this emoji. It is in answers
	// to a caller only, never in stream events.
	Me *bool `json:"me,omitempty" example:"true"`
}

// NewReactions converts a tally, with me when withMe; never nil, so an
// empty tally is [].
func NewReactions(rs []models.Reaction, withMe bool) []Reaction {
	out := make([]Reaction, len(rs))
	for i, r := range rs {
		out[i] = Reaction{Emoji: r.Emoji, Count: r.Count}
		if withMe {
			out[i].Me = &rs[i].Me
		}
	}
	return out
}

// MessageReactions is the answer of PUT …/reactions/{emoji}: the message's
// whole tally after the change.
type MessageReactions struct {
	MessageID string     `json:"message_id" validate:"required" example:"k7x2m4q9v3n8p1r5t6w0y2z4ab"`
	Reactions []Reaction `json:"reactions" validate:"required"`
}

// SendMessageRequest posts a message.
type SendMessageRequest struct {
	Content  Text    `json:"content" binding:"required" swaggertype:"string" example:"hello, room"`
	ClientID *string `json:"client_id,omitempty" example:"c-0001" minLength:"1" maxLength:"64"`
	ReplyTo  *string `json:"reply_to,omitempty" example:"k7x2m4q9v3n8p1r5t6w0y2z4ab"`
	// Mentions are user ids the message mentions: each a participant of
	// the room, at most 20 distinct ones (repeats are folded). Each user
	// mentioned but the sender gets a message.mentioned notification.
	Mentions []string `json:"mentions,omitempty" maxItems:"20" example:"bob"`
}

// EditMessageRequest replaces a message's content.
type EditMessageRequest struct {
	Content Text `json:"content" binding:"required" swaggertype:"string" example:"hello again"`
	// Mentions, when present, replace the message's mentions (an empty
	// list removes them all); when absent they stay as they were. Users
	// the message mentioned before may stay though they have left; new
	// ones must be participants, and only they are notified.
	Mentions []string `json:"mentions,omitempty" maxItems:"20" example:"bob,carol"`
}

// HistoryPage is a page of history.
type HistoryPage struct {
	Messages []RoomMessage `json:"messages" validate:"required"`
	HasMore  bool          `json:"has_more" validate:"required" example:"true"`
	// HeadSeq is the room's newest event seq when the page was read: open the
	// stream with Last-Event-ID set to it.
	HeadSeq int64 `json:"head_seq" validate:"required" example:"42"`
}

// NewHistoryPage converts a history page.
func NewHistoryPage(p *models.HistoryPage) HistoryPage {
	out := HistoryPage{Messages: make([]RoomMessage, len(p.Messages)), HasMore: p.HasMore, HeadSeq: p.HeadSeq}
	for i := range p.Messages {
		out.Messages[i] = NewMessage(&p.Messages[i])
	}
	return out
}

// Me tells the caller what they may do in a room. Its examples describe one
// muted participant, so that together they make sense.
type Me struct {
	Role    *string `json:"role" validate:"required" enums:"owner,moderator,participant" extensions:"x-nullable" example:"participant"`
	CanPost bool    `json:"can_post" validate:"required" example:"false"`
	// Reason is the error code a send would get now, when can_post is false;
	// null when it is true.
	Reason      *string `json:"reason" validate:"required" extensions:"x-nullable" example:"muted"`
	MutedUntil  *string `json:"muted_until" validate:"required" format:"date-time" extensions:"x-nullable" example:"2026-11-25T10:00:00.000000Z"`
	BannedUntil *string `json:"banned_until" validate:"required" format:"date-time" extensions:"x-nullable"`
	LockedUntil *string `json:"locked_until" validate:"required" format:"date-time" extensions:"x-nullable"`
	// RetryAfterSeconds is how long until a send could succeed; 0 when it
	// would now, or never will by waiting (a permanent ban).
	RetryAfterSeconds int64 `json:"retry_after_seconds" validate:"required" example:"600"`
}

// NewMe converts a standing.
func NewMe(s *models.Standing) Me {
	return Me{Role: s.Role, CanPost: s.CanPost, Reason: Code(s.Reason), MutedUntil: Time(s.MutedUntil),
		BannedUntil: Time(s.BannedUntil), LockedUntil: Time(s.LockedUntil), RetryAfterSeconds: s.RetryAfter}
}

// SetRoleRequest changes a participant's role.
type SetRoleRequest struct {
	Role string `json:"role" binding:"required" enums:"moderator,participant" example:"moderator"`
}

// MuteRequest mutes a participant.
type MuteRequest struct {
	DurationSeconds int64   `json:"duration_seconds" binding:"required" minimum:"1" maximum:"604800" example:"600"`
	Reason          *string `json:"reason,omitempty" example:"spamming links"`
}

// Mute is an active mute.
type Mute struct {
	UserID string  `json:"user_id" validate:"required" example:"bob"`
	Until  string  `json:"until" validate:"required" format:"date-time"`
	Reason *string `json:"reason" validate:"required" extensions:"x-nullable" example:"spamming links"`
	By     string  `json:"by" validate:"required" example:"alice"`
}

// NewMute converts a mute.
func NewMute(m *models.Mute) Mute {
	return Mute{UserID: m.UserID, Until: ts(m.Until), Reason: m.Reason, By: m.ActorID}
}

// BanRequest bans a user; without duration_seconds the ban is permanent.
type BanRequest struct {
	Reason          *string `json:"reason,omitempty" example:"harassment"`
	DurationSeconds *int64  `json:"duration_seconds,omitempty" minimum:"1" maximum:"31536000" example:"86400"`
}

// Ban is an active ban; until is null for a permanent one.
type Ban struct {
	UserID    string  `json:"user_id" validate:"required" example:"mallory"`
	Until     *string `json:"until" validate:"required" format:"date-time" extensions:"x-nullable"`
	Reason    *string `json:"reason" validate:"required" extensions:"x-nullable" example:"harassment"`
	By        string  `json:"by" validate:"required" example:"alice"`
	CreatedAt string  `json:"created_at" validate:"required" format:"date-time"`
}

// NewBan converts a ban.
func NewBan(b *models.Ban) Ban {
	return Ban{UserID: b.UserID, Until: Time(b.Until), Reason: b.Reason, By: b.ActorID, CreatedAt: ts(b.CreatedAt)}
}

// BanList is the answer of GET …/bans.
type BanList struct {
	Bans []Ban `json:"bans" validate:"required"`
}

// ChatUpdateRequest changes a room's chat settings; absent fields stay.
type ChatUpdateRequest struct {
	// LockedUntil locks the chat for everyone below moderator until then; null
	// unlocks.
	LockedUntil     OptionalTime `json:"locked_until,omitempty" swaggertype:"string" format:"date-time" extensions:"x-nullable" example:"2026-11-25T21:00:00Z"`
	SlowModeSeconds *int         `json:"slow_mode_seconds,omitempty" minimum:"0" maximum:"3600" example:"10"`
}

// LogEntry is one moderation action.
type LogEntry struct {
	ID        int64   `json:"id" validate:"required" example:"12"`
	Action    string  `json:"action" validate:"required" enums:"message.delete,user.mute,user.unmute,user.ban,user.unban,participant.kick,participant.role,room.chat,room.close" example:"user.mute"`
	ActorID   string  `json:"actor_id" validate:"required" example:"alice"`
	TargetID  *string `json:"target_id" validate:"required" extensions:"x-nullable" example:"bob"`
	MessageID *string `json:"message_id" validate:"required" extensions:"x-nullable"`
	// Reason is the moderator's reason; for participant.role, the new role.
	Reason    *string `json:"reason" validate:"required" extensions:"x-nullable"`
	Until     *string `json:"until" validate:"required" format:"date-time" extensions:"x-nullable"`
	Timestamp string  `json:"timestamp" validate:"required" format:"date-time"`
}

// ModerationLog is a page of the moderation log, newest first.
type ModerationLog struct {
	Entries []LogEntry `json:"entries" validate:"required"`
	HasMore bool       `json:"has_more" validate:"required"`
}

// NewModerationLog converts a page of log entries.
func NewModerationLog(es []models.LogEntry, more bool) ModerationLog {
	out := ModerationLog{Entries: make([]LogEntry, len(es)), HasMore: more}
	for i, e := range es {
		out.Entries[i] = LogEntry{ID: e.ID, Action: e.Action, ActorID: e.ActorID, TargetID: e.TargetID,
			MessageID: e.MessageID, Reason: e.Reason, Until: Time(e.Until), Timestamp: ts(e.CreatedAt)}
	}
	return out
}

// StreamTicket is a short-lived credential for ?ticket= on the stream.
type StreamTicket struct {
	Ticket    string `json:"ticket" validate:"required" example:"eyJhbGciOi..."`
	ExpiresAt string `json:"expires_at" validate:"required" format:"date-time"`
}

// Health is the answer of /healthz and /readyz.
type Health struct {
	Status string `json:"status" validate:"required" example:"ok"`
}
