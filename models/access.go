package models

import (
	"errors"
	"math"
	"time"

	"gorm.io/gorm"
)

// rank orders who may act on whom: an actor may act on a target of lower rank
// only. A moderator cannot touch another moderator, an owner can, an admin can
// act on anyone but another admin.
type rank int

const (
	rankNone rank = iota
	rankParticipant
	rankModerator
	rankOwner
	rankAdmin
)

func roleRank(role string) rank {
	switch role {
	case RoleOwner:
		return rankOwner
	case RoleModerator:
		return rankModerator
	case RoleParticipant:
		return rankParticipant
	}
	return rankNone
}

// Rate is a flood limit: Count sends per Per, refilled smoothly (a token
// bucket). A zero Count turns it off.
type Rate struct {
	Count int
	Per   time.Duration
}

// standing is what the database says about one user in one room at one moment,
// read inside the transaction that acts on it.
type standing struct {
	room  *Room
	actor Actor
	part  *Participant // nil when not joined
	ban   *Ban         // active bans only
	mute  *Mute        // active mutes only
	limit *SendLimit   // nil before the first post
	at    time.Time
}

// loadStanding reads actor's participation, ban, mute and send limit in room
// with one query.
// In a send, the rows come from the send cache.
func loadStanding(t *txn, room *Room, actor Actor) (*standing, error) {
	row, err := t.standingRow(room.ID, actor.UserID)
	if err != nil {
		return nil, err
	}
	s := &standing{room: room, actor: actor, at: now()}
	if row.PUserID != nil {
		s.part = &Participant{RoomID: room.ID, UserID: *row.PUserID, Name: *row.PName, Role: *row.PRole,
			JoinedAt: utc(*row.PJoinedAt), IsAdmin: *row.PIsAdmin}
	}
	if row.BUserID != nil && (row.BUntil == nil || row.BUntil.After(s.at)) {
		s.ban = &Ban{RoomID: room.ID, UserID: *row.BUserID, Until: utcp(row.BUntil), Reason: row.BReason,
			ActorID: *row.BActorID, CreatedAt: utc(*row.BCreatedAt)}
	}
	if row.MUserID != nil && row.MUntil.After(s.at) {
		s.mute = &Mute{RoomID: room.ID, UserID: *row.MUserID, Until: utc(*row.MUntil)}
		if s.part != nil {
			s.part.MutedUntil = &s.mute.Until
		}
	}
	if row.LUserID != nil {
		s.limit = &SendLimit{RoomID: room.ID, UserID: *row.LUserID, LastPostAt: utc(*row.LLastPostAt), Tokens: *row.LTokens,
			TokensAt: utc(*row.LTokensAt)}
	}
	return s, nil
}

func utc(t time.Time) time.Time { return t.UTC() }

func utcp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (s *standing) rank() rank {
	if s.actor.Admin {
		return rankAdmin
	}
	if s.part == nil {
		return rankNone
	}
	return roleRank(s.part.Role)
}

// requireMember lets in participants and admins; a ban comes first, so a banned
// user hears "banned" on every call.
func (s *standing) requireMember() error {
	if s.actor.Admin {
		return nil
	}
	if s.ban != nil {
		return Restricted(ErrBanned, s.ban.Until, untilDelay(s.ban.Until, s.at))
	}
	if s.part == nil {
		return ErrNotParticipant
	}
	return nil
}

// requireRank is requireMember plus a minimum role.
func (s *standing) requireRank(min rank) error {
	if err := s.requireMember(); err != nil {
		return err
	}
	if s.rank() < min {
		return ErrForbidden
	}
	return nil
}

// mayActOn refuses an action on a target of equal or higher rank.
func (s *standing) mayActOn(target rank) error {
	if s.rank() <= target {
		return WithDetail(ErrForbidden, "you may not act on a user of equal or higher rank")
	}
	return nil
}

// postCheck is the one rule for whether a post goes through: mute, chat lock,
// slow mode (sends only, not edits) and the flood limit, in that order.
// Moderators and above are exempt from all but a mute; admins from everything.
func (s *standing) postCheck(rate Rate, slowMode bool) error {
	if s.actor.Admin {
		return nil
	}
	if s.mute != nil {
		return Restricted(ErrMuted, &s.mute.Until, untilDelay(&s.mute.Until, s.at))
	}
	if s.rank() >= rankModerator {
		return nil
	}
	if l := s.room.LockedUntil; l != nil && l.After(s.at) {
		return Restricted(ErrChatLocked, l, untilDelay(l, s.at))
	}
	if slowMode && s.room.SlowModeSeconds > 0 && s.limit != nil {
		next := s.limit.LastPostAt.Add(time.Duration(s.room.SlowModeSeconds) * time.Second)
		if next.After(s.at) {
			return Restricted(WithDetail(ErrRateLimited, "slow mode: one message every %d s", s.room.SlowModeSeconds),
				&next, next.Sub(s.at))
		}
	}
	if tokens := s.tokens(rate); rate.Count > 0 && tokens < 1 {
		wait := time.Duration((1 - tokens) / refillPerSecond(rate) * float64(time.Second))
		next := s.at.Add(wait)
		return Restricted(WithDetail(ErrRateLimited, "flood limit: %d messages per %s", rate.Count, rate.Per), &next, wait)
	}
	return nil
}

func refillPerSecond(r Rate) float64 { return float64(r.Count) / r.Per.Seconds() }

// tokens is the flood bucket's level now.
func (s *standing) tokens(r Rate) float64 {
	if r.Count == 0 || s.limit == nil {
		return float64(r.Count)
	}
	elapsed := s.at.Sub(s.limit.TokensAt).Seconds()
	return math.Min(float64(r.Count), s.limit.Tokens+elapsed*refillPerSecond(r))
}

// recordPost spends one token and, for a send (not an edit), restarts the
// slow-mode clock.
func (s *standing) recordPost(t *txn, r Rate, send bool) error {
	if s.actor.Admin || s.rank() >= rankModerator {
		return nil
	}
	l := SendLimit{RoomID: s.room.ID, UserID: s.actor.UserID, LastPostAt: s.at, Tokens: s.tokens(r) - 1, TokensAt: s.at}
	if s.limit != nil && !send {
		l.LastPostAt = s.limit.LastPostAt
	}
	if t.cache != nil && t.cache.setLimit(l) {
		return nil
	}
	if s.limit == nil {
		return t.db.Create(&l).Error
	}
	return t.db.Model(&SendLimit{}).Where("room_id = ? AND user_id = ?", l.RoomID, l.UserID).
		Updates(map[string]any{"last_post_at": l.LastPostAt, "tokens": l.Tokens, "tokens_at": l.TokensAt}).Error
}

// untilDelay is how long until t, at least one second; zero for no end.
func untilDelay(t *time.Time, at time.Time) time.Duration {
	if t == nil {
		return 0
	}
	return max(t.Sub(at), time.Second)
}

// targetRank is the rank of a user acted upon: admin if the server knows them
// as one (see KnownAdmin) or their token said so when they joined, else their
// role if they are in the room, owner if they own it.
func targetRank(tx *gorm.DB, room *Room, userID string) (rank, *Participant, error) {
	var p Participant
	err := tx.Where("room_id = ? AND user_id = ?", room.ID, userID).Take(&p).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return rankNone, nil, err
	}
	joined := err == nil
	var admins int64
	if err := tx.Model(&KnownAdmin{}).Where("user_id = ?", userID).Count(&admins).Error; err != nil {
		return rankNone, nil, err
	}
	switch {
	case joined && (p.IsAdmin || admins > 0):
		return rankAdmin, &p, nil
	case admins > 0:
		return rankAdmin, nil, nil
	case joined:
		return roleRank(p.Role), &p, nil
	case room.OwnerID == userID:
		return rankOwner, nil, nil
	}
	return rankParticipant, nil, nil
}

// noteAdmin records what actor's own credential says of them: a platform
// admin is remembered as a KnownAdmin, a plain user forgotten as one (an
// admin demoted). Call it only in calls made with the user's own credential,
// never on their behalf (JoinAs).
func noteAdmin(tx *gorm.DB, actor Actor) error {
	if actor.Admin {
		return upsert(tx, &KnownAdmin{UserID: actor.UserID, SeenAt: now()})
	}
	return tx.Where("user_id = ?", actor.UserID).Delete(&KnownAdmin{}).Error
}
