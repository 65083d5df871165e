package models

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Moderation log actions.
const (
	LogDelete = "message.delete"
	LogMute   = "user.mute"
	LogUnmute = "user.unmute"
	LogBan    = "user.ban"
	LogUnban  = "user.unban"
	LogKick   = "participant.kick"
	LogRole   = "participant.role"
	LogChat   = "room.chat"
	LogClose  = "room.close"
)

// Bounds of moderation durations.
const (
	MaxMute = 7 * 24 * time.Hour
	MaxBan  = 365 * 24 * time.Hour
	// MaxLock bounds how far ahead a chat lock may reach.
	MaxLock = 365 * 24 * time.Hour
	// MaxSlowMode is the longest slow-mode interval, in seconds.
	MaxSlowMode = 3600
)

// log writes one moderation log entry for the room of the transaction.
func (t *txEvents) log(e *LogEntry) error {
	e.CreatedAt, e.RoomID = now(), t.roomID
	return t.db.Create(e).Error
}

// Mute stops a participant posting for d (1 s to 7 days).
func (c *Chat) Mute(ctx context.Context, actor Actor, roomID, userID string, d time.Duration, reason *string) (*Mute, error) {
	if err := ValidUserID(userID); err != nil {
		return nil, err
	}
	if d < time.Second || d > MaxMute {
		return nil, Invalidf("duration_seconds must be 1–%d", int(MaxMute.Seconds()))
	}
	reason, err := cleanReason(reason)
	if err != nil {
		return nil, err
	}
	var m *Mute
	err = c.moderate(ctx, actor, roomID, userID, func(t *txEvents, s *standing, p *Participant) error {
		if p == nil {
			return WithDetail(ErrNotFound, "user %q is not in this room", userID)
		}
		m = &Mute{RoomID: roomID, UserID: userID, Until: s.at.Add(d), Reason: reason, ActorID: actor.UserID, CreatedAt: s.at}
		if err := upsert(t.db, m); err != nil {
			return err
		}
		if err := t.emit(&Event{RoomID: roomID, Type: EventUserMuted,
			Payload: MuteChange{UserID: userID, Until: &m.Until, By: actor.UserID, Reason: reason}}); err != nil {
			return err
		}
		return t.log(&LogEntry{Action: LogMute, ActorID: actor.UserID, TargetID: &userID, Reason: reason, Until: &m.Until})
	})
	return m, err
}

// Unmute lifts a mute. Lifting no mute does nothing; a user who neither takes
// part nor is muted is ErrNotFound.
func (c *Chat) Unmute(ctx context.Context, actor Actor, roomID, userID string) error {
	if err := ValidUserID(userID); err != nil {
		return err
	}
	return c.moderate(ctx, actor, roomID, userID, func(t *txEvents, s *standing, p *Participant) error {
		res := t.db.Where("room_id = ? AND user_id = ?", roomID, userID).Delete(&Mute{})
		switch {
		case res.Error != nil:
			return res.Error
		case res.RowsAffected == 0 && p == nil:
			return WithDetail(ErrNotFound, "user %q is not in this room", userID)
		case res.RowsAffected == 0:
			return nil
		}
		if err := t.emit(&Event{RoomID: roomID, Type: EventUserUnmuted, Payload: MuteChange{UserID: userID, By: actor.UserID}}); err != nil {
			return err
		}
		return t.log(&LogEntry{Action: LogUnmute, ActorID: actor.UserID, TargetID: &userID})
	})
}

// Ban removes a user from the room and keeps them out for d, or for good when d
// is nil. The user need not be in the room.
func (c *Chat) Ban(ctx context.Context, actor Actor, roomID, userID string, d *time.Duration, reason *string) (*Ban, error) {
	if err := ValidUserID(userID); err != nil {
		return nil, err
	}
	if d != nil && (*d < time.Second || *d > MaxBan) {
		return nil, Invalidf("duration_seconds must be 1–%d, or absent for a permanent ban", int(MaxBan.Seconds()))
	}
	reason, err := cleanReason(reason)
	if err != nil {
		return nil, err
	}
	var b *Ban
	err = c.moderate(ctx, actor, roomID, userID, func(t *txEvents, s *standing, p *Participant) error {
		b = &Ban{RoomID: roomID, UserID: userID, Reason: reason, ActorID: actor.UserID, CreatedAt: s.at}
		if d != nil {
			until := s.at.Add(*d)
			b.Until = &until
		}
		if err := upsert(t.db, b); err != nil {
			return err
		}
		if err := t.emit(&Event{RoomID: roomID, Type: EventUserBanned, TargetID: userID,
			Payload: BanChange{UserID: userID, Until: b.Until, By: actor.UserID, Reason: reason}}); err != nil {
			return err
		}
		if p != nil {
			if err := t.db.Delete(p).Error; err != nil {
				return err
			}
			if err := t.emit(&Event{RoomID: roomID, Type: EventParticipantLeft, TargetID: userID,
				Payload: ParticipantLeft{UserID: userID, Reason: LeftBanned}}); err != nil {
				return err
			}
		}
		return t.log(&LogEntry{Action: LogBan, ActorID: actor.UserID, TargetID: &userID, Reason: reason, Until: b.Until})
	})
	return b, err
}

// Unban lifts a ban; lifting none does nothing.
func (c *Chat) Unban(ctx context.Context, actor Actor, roomID, userID string) error {
	if err := ValidUserID(userID); err != nil {
		return err
	}
	return c.write(ctx, actor, roomID, func(t *txEvents, s *standing) error {
		if err := s.requireRank(rankModerator); err != nil {
			return err
		}
		res := t.db.Where("room_id = ? AND user_id = ?", roomID, userID).Delete(&Ban{})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		if err := t.emit(&Event{RoomID: roomID, Type: EventUserUnbanned, Payload: BanChange{UserID: userID, By: actor.UserID}}); err != nil {
			return err
		}
		return t.log(&LogEntry{Action: LogUnban, ActorID: actor.UserID, TargetID: &userID})
	})
}

// Bans lists a room's active bans, newest first.
func (c *Chat) Bans(ctx context.Context, actor Actor, roomID string) ([]Ban, error) {
	var out []Ban
	err := c.member(ctx, actor, roomID, func(tx *gorm.DB, s *standing) error {
		if err := s.requireRank(rankModerator); err != nil {
			return err
		}
		var all []Ban
		if err := tx.Where("room_id = ?", roomID).Order("created_at DESC, user_id").Find(&all).Error; err != nil {
			return err
		}
		for _, b := range all {
			if b.Until == nil || b.Until.After(s.at) {
				out = append(out, b)
			}
		}
		return nil
	})
	return out, err
}

// ChatUpdate changes a room's chat settings; nil fields stay as they are.
// SetLock says whether LockedUntil is given (a nil LockedUntil then unlocks).
type ChatUpdate struct {
	SetLock         bool
	LockedUntil     *time.Time
	SlowModeSeconds *int
}

// UpdateChat locks or unlocks the room's chat and sets slow mode.
func (c *Chat) UpdateChat(ctx context.Context, actor Actor, roomID string, u ChatUpdate) (*Room, error) {
	if u.SlowModeSeconds != nil && (*u.SlowModeSeconds < 0 || *u.SlowModeSeconds > MaxSlowMode) {
		return nil, Invalidf("slow_mode_seconds must be 0–%d", MaxSlowMode)
	}
	if u.SetLock && u.LockedUntil != nil && u.LockedUntil.After(now().Add(MaxLock)) {
		return nil, Invalidf("locked_until may be at most 365 days ahead")
	}
	var out *Room
	err := c.write(ctx, actor, roomID, func(t *txEvents, s *standing) error {
		if err := s.requireRank(rankModerator); err != nil {
			return err
		}
		room := s.room
		if u.SetLock {
			room.LockedUntil = nil
			if u.LockedUntil != nil && u.LockedUntil.After(s.at) {
				l := u.LockedUntil.UTC().Truncate(time.Microsecond)
				room.LockedUntil = &l
			}
		}
		if u.SlowModeSeconds != nil {
			room.SlowModeSeconds = *u.SlowModeSeconds
		}
		if err := t.db.Model(&Room{}).Where("id = ?", roomID).Updates(map[string]any{
			"locked_until": room.LockedUntil, "slow_mode_seconds": room.SlowModeSeconds}).Error; err != nil {
			return err
		}
		if err := t.emit(&Event{RoomID: roomID, Type: EventRoomChatUpdated,
			Payload: ChatChange{LockedUntil: room.LockedUntil, SlowModeSeconds: room.SlowModeSeconds, By: actor.UserID}}); err != nil {
			return err
		}
		room.LastSeq = t.evs[len(t.evs)-1].Seq
		out = room
		if err := fillRoom(t.db, out, actor.UserID); err != nil {
			return err
		}
		return t.log(&LogEntry{Action: LogChat, ActorID: actor.UserID, Until: room.LockedUntil})
	})
	return out, err
}

// ModerationLog returns a page of the room's moderation log, newest first,
// with entries older than before (0: from the newest).
func (c *Chat) ModerationLog(ctx context.Context, actor Actor, roomID string, before int64, limit int) ([]LogEntry, bool, error) {
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize || before < 0 {
		return nil, false, Invalidf("limit must be 1–%d and before ≥ 1", MaxPageSize)
	}
	var out []LogEntry
	err := c.member(ctx, actor, roomID, func(tx *gorm.DB, s *standing) error {
		if err := s.requireRank(rankModerator); err != nil {
			return err
		}
		q := tx.Where("room_id = ?", roomID).Order("id DESC").Limit(limit + 1)
		if before > 0 {
			q = q.Where("id < ?", before)
		}
		return q.Find(&out).Error
	})
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, err
}

// CloseRoom ends a room: every stream gets room.closed and ends, and all its
// state but the seq counter is deleted. Owner or admin only.
func (c *Chat) CloseRoom(ctx context.Context, actor Actor, roomID string) error {
	return c.write(ctx, actor, roomID, func(t *txEvents, s *standing) error {
		if err := s.requireRank(rankOwner); err != nil && !(errors.Is(err, ErrNotParticipant) && s.room.OwnerID == actor.UserID) {
			return err
		}
		if err := t.emit(&Event{RoomID: roomID, Type: EventRoomClosed, Payload: RoomClosed{By: actor.UserID}}); err != nil {
			return err
		}
		if err := t.outbox(&Notification{Type: NotifyRoomClosed, Payload: RoomClosed{By: actor.UserID}}); err != nil {
			return err
		}
		for _, m := range []any{&EventRow{}, &Message{}, &Participant{}, &Mute{}, &Ban{}, &SendLimit{}, &ReactionLimit{}, &LogEntry{}} {
			if err := t.db.Where("room_id = ?", roomID).Delete(m).Error; err != nil {
				return err
			}
		}
		return t.db.Model(&Room{}).Where("id = ?", roomID).Updates(map[string]any{
			"closed_at": now(), "locked_until": nil, "slow_mode_seconds": 0, "pinned_id": nil}).Error
	})
}

// upsert inserts v or, when its primary key exists, replaces every column: a
// second mute or ban replaces the first.
func upsert(tx *gorm.DB, v any) error {
	return tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(v).Error
}

// maxReasonLength bounds moderation reasons, in code points.
const maxReasonLength = 500

func cleanReason(r *string) (*string, error) {
	if r == nil {
		return nil, nil
	}
	s, err := NormalizeContent(*r, maxReasonLength)
	if errors.Is(err, ErrContentEmpty) {
		return nil, nil
	}
	if err != nil {
		return nil, Invalidf("reason: %v", err)
	}
	return &s, nil
}
