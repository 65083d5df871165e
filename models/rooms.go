package models

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// CreateRoom creates a room owned by actor, with id or a generated one. It
// reports created=false when actor already owns an open room with that id, and
// ErrConflict when someone else does. A closed room's id is reused: the new
// room starts empty and its seq continues above the old one's.
func (c *Chat) CreateRoom(ctx context.Context, actor Actor, id, name string) (room *Room, created bool, err error) {
	if name, err = cleanName("name", name, true); err != nil {
		return nil, false, err
	}
	if id == "" {
		id = newID()[:12]
	} else if !ValidRoomID(id) {
		return nil, false, Invalidf("room id must match [A-Za-z0-9_-]{1,64}")
	}
	var evs []*Event
	err = c.store.write(ctx, func(t *txn) error {
		if err := t.lockRoomID(id); err != nil {
			return err
		}
		tx := t.db
		var old Room
		q := tx.Where("id = ?", id)
		if t.pg {
			q = q.Clauses(lockingClause)
		}
		err := q.Take(&old).Error
		switch {
		case err == nil && old.ClosedAt == nil:
			if old.OwnerID != actor.UserID {
				return WithDetail(ErrConflict, "room id %q is taken", id)
			}
			room = &old
			return fillRoom(tx, room, actor.UserID)
		case err == nil:
			room = &Room{ID: id, Name: name, OwnerID: actor.UserID, CreatedAt: now(), LastSeq: old.LastSeq, OldestSeq: old.LastSeq + 1}
			err = tx.Select("*").Save(room).Error
		case errors.Is(err, gorm.ErrRecordNotFound):
			room = &Room{ID: id, Name: name, OwnerID: actor.UserID, CreatedAt: now(), OldestSeq: 1}
			err = tx.Create(room).Error
		}
		if err != nil {
			return err
		}
		created = true
		if err := noteAdmin(tx, actor); err != nil {
			return err
		}
		p := &Participant{RoomID: id, UserID: actor.UserID, Name: displayName(actor), Role: RoleOwner, JoinedAt: now(), IsAdmin: actor.Admin}
		if err := tx.Create(p).Error; err != nil {
			return err
		}
		te := &txEvents{txn: t, chat: c, roomID: id}
		if err := te.emit(&Event{RoomID: id, Type: EventParticipantJoined, Payload: p}); err != nil {
			return err
		}
		room.LastSeq, room.ParticipantCount = te.evs[0].Seq, 1
		evs = te.evs
		return nil
	})
	if err == nil && len(evs) > 0 {
		c.notify.Notify(context.WithoutCancel(ctx), evs)
	}
	return room, created, err
}

func countParticipants(tx *gorm.DB, room *Room) error {
	return tx.Model(&Participant{}).Where("room_id = ?", room.ID).Count(&room.ParticipantCount).Error
}

func displayName(a Actor) string {
	if n, err := cleanName("name", a.Name, false); err == nil && n != "" {
		return n
	}
	return a.UserID
}

// GetRoom returns the room, its pinned message included, to a participant or
// admin.
func (c *Chat) GetRoom(ctx context.Context, actor Actor, roomID string) (*Room, error) {
	var room *Room
	err := c.member(ctx, actor, roomID, func(tx *gorm.DB, s *standing) error {
		room = s.room
		return fillRoom(tx, room, actor.UserID)
	})
	return room, err
}

// Standing is what a user may do in a room right now: the answer of GET …/me.
type Standing struct {
	Role    *string
	CanPost bool
	// Reason is why not, as the error a send would get.
	Reason      error
	MutedUntil  *time.Time
	BannedUntil *time.Time
	LockedUntil *time.Time
	// RetryAfter is in whole seconds, rounded up; 0 when there is no wait.
	RetryAfter int64
}

// Me tells actor what they may do in the room, with the same answer a send
// would get. It is open to any user, banned ones included.
func (c *Chat) Me(ctx context.Context, actor Actor, roomID string) (*Standing, error) {
	var out Standing
	err := c.read(ctx, roomID, func(tx *gorm.DB, room *Room) error {
		s, err := loadStanding(&txn{db: tx}, room, actor)
		if err != nil {
			return err
		}
		if s.part != nil {
			out.Role = &s.part.Role
		}
		if s.mute != nil {
			out.MutedUntil = &s.mute.Until
		}
		if s.ban != nil {
			out.BannedUntil = s.ban.Until
		}
		if l := room.LockedUntil; l != nil && l.After(s.at) {
			out.LockedUntil = l
		}
		out.Reason = s.requireMember()
		if out.Reason == nil {
			out.Reason = s.postCheck(c.opts.SendRate, true)
		}
		out.CanPost = out.Reason == nil
		var r *Error
		if errors.As(out.Reason, &r) {
			out.RetryAfter = CeilSeconds(r.RetryAfter)
		}
		return nil
	})
	return &out, err
}

// Join makes actor a participant. It reports created=false when they already
// were one. A banned user is refused, unless an admin.
func (c *Chat) Join(ctx context.Context, actor Actor, roomID string) (p *Participant, created bool, err error) {
	return c.join(ctx, actor, roomID, true)
}

// join is Join; own says the call is made with the user's own credential,
// which then tells whether they are an admin (see noteAdmin).
func (c *Chat) join(ctx context.Context, actor Actor, roomID string, own bool) (p *Participant, created bool, err error) {
	err = c.write(ctx, actor, roomID, func(t *txEvents, s *standing) error {
		if own {
			if err := noteAdmin(t.db, actor); err != nil {
				return err
			}
		}
		if s.ban != nil && !actor.Admin {
			return s.requireMember()
		}
		if s.part != nil {
			p = s.part
			return nil
		}
		role := RoleParticipant
		if s.room.OwnerID == actor.UserID {
			role = RoleOwner
		}
		p = &Participant{RoomID: roomID, UserID: actor.UserID, Name: displayName(actor), Role: role, JoinedAt: now(), IsAdmin: actor.Admin}
		if s.mute != nil {
			p.MutedUntil = &s.mute.Until
		}
		if err := t.db.Create(p).Error; err != nil {
			return err
		}
		created = true
		return t.emit(&Event{RoomID: roomID, Type: EventParticipantJoined, Payload: p})
	})
	return p, created, err
}

// Participants lists a room's participants, oldest first.
func (c *Chat) Participants(ctx context.Context, actor Actor, roomID string) ([]Participant, error) {
	var out []Participant
	err := c.member(ctx, actor, roomID, func(tx *gorm.DB, s *standing) error {
		if err := tx.Where("room_id = ?", roomID).Order("joined_at, user_id").Find(&out).Error; err != nil {
			return err
		}
		var mutes []Mute
		if err := tx.Where("room_id = ?", roomID).Find(&mutes).Error; err != nil {
			return err
		}
		until := map[string]*Mute{}
		for i := range mutes {
			if mutes[i].Until.After(s.at) {
				until[mutes[i].UserID] = &mutes[i]
			}
		}
		for i := range out {
			if m := until[out[i].UserID]; m != nil {
				out[i].MutedUntil = &m.Until
			}
		}
		return nil
	})
	return out, err
}

// RemoveParticipant is a leave when actor removes themself, and a kick by a
// moderator or above otherwise. The user's streams end.
func (c *Chat) RemoveParticipant(ctx context.Context, actor Actor, roomID, userID string) error {
	if err := ValidUserID(userID); err != nil {
		return err
	}
	return c.write(ctx, actor, roomID, func(t *txEvents, s *standing) error {
		reason := LeftSelf
		if userID == actor.UserID {
			if s.part == nil {
				if err := s.requireMember(); err != nil {
					return err
				}
				// An admin who never joined has nothing to leave.
				return WithDetail(ErrNotFound, "you are not in this room")
			}
		} else {
			reason = LeftKicked
			p, err := modTarget(t.db, s, userID)
			if err != nil {
				return err
			}
			if p == nil {
				return WithDetail(ErrNotFound, "user %q is not in this room", userID)
			}
		}
		res := t.db.Where("room_id = ? AND user_id = ?", roomID, userID).Delete(&Participant{})
		if res.Error != nil {
			return res.Error
		}
		if err := t.emit(&Event{RoomID: roomID, Type: EventParticipantLeft, TargetID: userID,
			Payload: ParticipantLeft{UserID: userID, Reason: reason}}); err != nil {
			return err
		}
		if reason == LeftKicked {
			return t.log(&LogEntry{Action: LogKick, ActorID: actor.UserID, TargetID: &userID})
		}
		return nil
	})
}

// moderate is write for a moderator or above acting on userID, whom they
// must outrank (see modTarget); fn gets the target's participation, nil if
// they have not joined.
func (c *Chat) moderate(ctx context.Context, actor Actor, roomID, userID string,
	fn func(t *txEvents, s *standing, target *Participant) error) error {
	return c.write(ctx, actor, roomID, func(t *txEvents, s *standing) error {
		p, err := modTarget(t.db, s, userID)
		if err != nil {
			return err
		}
		return fn(t, s, p)
	})
}

// modTarget checks that actor is a moderator or above who outranks userID,
// and returns the target's participation (nil if not joined).
func modTarget(tx *gorm.DB, s *standing, userID string) (*Participant, error) {
	if err := s.requireRank(rankModerator); err != nil {
		return nil, err
	}
	r, p, err := targetRank(tx, s.room, userID)
	if err != nil {
		return nil, err
	}
	return p, s.mayActOn(r)
}

// SetRole makes a participant a moderator or a plain participant. Only the
// owner or an admin may, and the owner's own role does not change.
func (c *Chat) SetRole(ctx context.Context, actor Actor, roomID, userID, role string) (*Participant, error) {
	if err := ValidUserID(userID); err != nil {
		return nil, err
	}
	if role != RoleModerator && role != RoleParticipant {
		return nil, Invalidf(`role must be "moderator" or "participant"`)
	}
	var out *Participant
	err := c.write(ctx, actor, roomID, func(t *txEvents, s *standing) error {
		if err := s.requireRank(rankOwner); err != nil {
			return err
		}
		r, p, err := targetRank(t.db, s.room, userID)
		if err != nil {
			return err
		}
		if p == nil {
			return WithDetail(ErrNotFound, "user %q is not in this room", userID)
		}
		if p.Role == RoleOwner {
			return WithDetail(ErrForbidden, "the owner's role cannot change")
		}
		if err := s.mayActOn(r); err != nil {
			return err
		}
		out = p
		if err := fillMute(t.db, out, s.at); err != nil || p.Role == role {
			return err
		}
		if err := t.db.Model(p).Update("role", role).Error; err != nil {
			return err
		}
		p.Role = role
		if err := t.emit(&Event{RoomID: roomID, Type: EventParticipantRole, TargetID: "", Payload: p}); err != nil {
			return err
		}
		return t.log(&LogEntry{Action: LogRole, ActorID: actor.UserID, TargetID: &userID, Reason: &role})
	})
	return out, err
}

// fillMute sets p.MutedUntil from an active mute, if any.
func fillMute(tx *gorm.DB, p *Participant, at time.Time) error {
	var m Mute
	err := tx.Where("room_id = ? AND user_id = ?", p.RoomID, p.UserID).Take(&m).Error
	switch {
	case err == nil && m.Until.After(at):
		p.MutedUntil = &m.Until
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound):
		return err
	}
	return nil
}

// CeilSeconds rounds d up to whole seconds, as Retry-After wants.
func CeilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// OpenStream checks that actor may stream the room (a participant or admin,
// not banned) and returns the room's head seq from the same snapshot: events
// after it that remove the actor end the stream. An admin is first recorded
// as a KnownAdmin, so that no ban or kick reaches them while they stream a
// room they never joined.
func (c *Chat) OpenStream(ctx context.Context, actor Actor, roomID string) (int64, error) {
	if actor.Admin {
		if err := c.store.write(ctx, func(t *txn) error { return noteAdmin(t.db, actor) }); err != nil {
			return 0, err
		}
	}
	var head int64
	err := c.member(ctx, actor, roomID, func(_ *gorm.DB, s *standing) error {
		head = s.room.LastSeq
		return nil
	})
	return head, err
}
