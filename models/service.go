package models

import (
	"context"
	"errors"
)

// Use cases for a service account acting on behalf of a user: the LiveKit
// webhook that keeps a room's chat participants in step with its voice
// participants. The service must be an admin; the user's own standing (a
// ban, ownership) is checked in the transaction by the use case it reuses.

// JoinAs makes user a participant of the room on behalf of service, as if
// they had joined themself: idempotent (created is false when they already
// were), a banned user is refused, the room's owner rejoins as owner. The
// user never gains admin this way.
func (c *Chat) JoinAs(ctx context.Context, service Actor, roomID string, user Actor) (p *Participant, created bool, err error) {
	if !service.Admin {
		return nil, false, WithDetail(ErrForbidden, "only a service account may join users")
	}
	if err := ValidUserID(user.UserID); err != nil {
		return nil, false, err
	}
	user.Admin = false
	return c.join(ctx, user, roomID, false)
}

// RemoveAs removes userID from the room on behalf of service, as a leave
// (participant.left with reason "left"; their streams end). Idempotent:
// removed is false, and the error nil, when they were not a participant.
func (c *Chat) RemoveAs(ctx context.Context, service Actor, roomID, userID string) (removed bool, err error) {
	if !service.Admin {
		return false, WithDetail(ErrForbidden, "only a service account may remove users")
	}
	err = c.RemoveParticipant(ctx, Actor{UserID: userID}, roomID, userID)
	if errors.Is(err, ErrNotParticipant) || errors.Is(err, ErrBanned) {
		return false, nil // not in the room: nothing to do
	}
	return err == nil, err
}
