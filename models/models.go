// Package models owns the chat domain: the gorm entities, the Store that owns
// the database and its transactions, the domain errors, and the use cases
// (create, join, send, edit, delete, mute, ban, lock…) in which every
// participation and moderation rule is checked inside the transaction that
// writes.
package models

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Roles a participant can hold in a room.
const (
	RoleOwner       = "owner"
	RoleModerator   = "moderator"
	RoleParticipant = "participant"
)

// Room is a chat room. LastSeq is the room's event counter: every event takes
// the next value inside the transaction that writes it. A closed room keeps its
// row (and so its counter) so that a new room with the same id continues above it.
type Room struct {
	ID              string `gorm:"primaryKey"`
	Name            string
	OwnerID         string
	CreatedAt       time.Time
	LastSeq         int64
	OldestSeq       int64
	LockedUntil     *time.Time
	SlowModeSeconds int
	ClosedAt        *time.Time
	// PinnedID is the pinned message's id, nil when none is pinned.
	PinnedID *string
	// ParticipantCount and Pinned (the pinned message, with its reactions)
	// are filled by reads (see fillRoom); they are not columns.
	ParticipantCount int64    `gorm:"-"`
	Pinned           *Message `gorm:"-"`
}

// Participant is a user who has joined a room. MutedUntil is filled by reads
// from the mutes table, which outlives the participation so that leaving and
// rejoining does not lift a mute.
type Participant struct {
	RoomID   string `gorm:"primaryKey"`
	UserID   string `gorm:"primaryKey"`
	Name     string
	Role     string
	JoinedAt time.Time
	// IsAdmin records that the user's token said platform admin when they joined,
	// so that moderators cannot act on them.
	IsAdmin    bool
	MutedUntil *time.Time `gorm:"-"`
}

// Mute stops a user posting in a room until Until.
type Mute struct {
	RoomID    string `gorm:"primaryKey"`
	UserID    string `gorm:"primaryKey"`
	Until     time.Time
	Reason    *string
	ActorID   string
	CreatedAt time.Time
}

// Ban keeps a user out of a room until Until, or for good when Until is nil.
type Ban struct {
	RoomID    string `gorm:"primaryKey"`
	UserID    string `gorm:"primaryKey"`
	Until     *time.Time
	Reason    *string
	ActorID   string
	CreatedAt time.Time
}

// KnownAdmin is a user the server has seen calling, with their own
// credential, as a platform admin: moderators and owners may not act on them
// (ban, kick, mute), in any room, joined or not. A call as a plain user that
// can tell (a join, a room created) forgets them.
type KnownAdmin struct {
	UserID string `gorm:"primaryKey"`
	SeenAt time.Time
}

// TableName names the known admins table.
func (KnownAdmin) TableName() string { return "known_admins" }

// SendLimit is a user's flood bucket and last post time in a room. It is kept
// apart from Participant so that leaving and rejoining does not reset it.
type SendLimit struct {
	RoomID     string `gorm:"primaryKey"`
	UserID     string `gorm:"primaryKey"`
	LastPostAt time.Time
	Tokens     float64
	TokensAt   time.Time
}

// Message is a chat message. A deleted message keeps its row and seq with empty
// content.
type Message struct {
	ID         string `gorm:"primaryKey"`
	RoomID     string
	Seq        int64
	SenderID   string
	SenderName string
	Content    string
	CreatedAt  time.Time
	EditedAt   *time.Time
	ReplyTo    *string
	IsDeleted  bool
	ClientID   *string
	// SentSHA256 is the SHA-256 of the content as first sent, kept from the
	// first edit of a message sent with a client id (see SentAs).
	SentSHA256 *string `gorm:"column:sent_sha256"`
	// Mentions are the users the message mentions, in order of first
	// mention; nil or empty when none.
	Mentions UserIDs
	// Reactions is the tally, filled by reads; it is not a column.
	Reactions []Reaction `gorm:"-"`
}

// SentAs reports whether content (normalised) is what m was first sent with,
// as a retry of its send must be: its content, or once it has been edited,
// the digest kept of the original.
func (m *Message) SentAs(content string) bool {
	if m.SentSHA256 != nil {
		return *m.SentSHA256 == contentSHA256(content)
	}
	return m.Content == content
}

func contentSHA256(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// EventRow is one entry of a room's event log: the encoded envelope of an event
// with its place in the room's sequence.
type EventRow struct {
	RoomID    string `gorm:"primaryKey"`
	Seq       int64  `gorm:"primaryKey"`
	Type      string
	TargetID  *string
	MessageID *string
	Data      string
	CreatedAt time.Time
}

// TableName keeps the table name short and plain.
func (EventRow) TableName() string { return "events" }

// LogEntry is one line of a room's moderation log.
type LogEntry struct {
	ID        int64 `gorm:"primaryKey"`
	RoomID    string
	Action    string
	ActorID   string
	TargetID  *string
	MessageID *string
	Reason    *string
	Until     *time.Time
	CreatedAt time.Time
}

// TableName names the moderation log table.
func (LogEntry) TableName() string { return "moderation_log" }

// SendLimitTable names the send limit table.
func (SendLimit) TableName() string { return "send_limits" }

// Actor is the caller of a use case, as the identity layer established it.
type Actor struct {
	UserID string
	Name   string
	Admin  bool
}
