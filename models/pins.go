package models

import (
	"context"
	"encoding/json"
	"errors"

	"gorm.io/gorm"
)

// A room has at most one pinned message, named by rooms.pinned_id. The rules
// of a pin live here:
//   - moderators and above pin, replace and unpin, under the checks of a send
//     but slow mode and the flood limit (a muted moderator may not);
//   - every change is a room.pinned event in the room's sequence, so it
//     replays; pinning the message already pinned, or unpinning when nothing
//     is, changes nothing and emits nothing;
//   - retention spares the pinned message (see prune); once unpinned, a
//     message older than the room keeps is deleted at once;
//   - deleting the pinned message unpins it, after its message.deleted;
//   - closing a room clears its pin with its messages (see CloseRoom).

// Pin pins a message of the room, replacing the pinned one if any, and
// returns the room as actor sees it.
func (c *Chat) Pin(ctx context.Context, actor Actor, roomID, msgID string) (*Room, error) {
	if msgID == "" || len(msgID) > 64 || !printable(msgID) {
		return nil, Invalidf("message_id must be the id of a message of this room")
	}
	var room *Room
	err := c.write(ctx, actor, roomID, func(t *txEvents, s *standing) error {
		if err := s.mayPin(); err != nil {
			return err
		}
		m, err := liveMessage(t.db, roomID, msgID)
		if err != nil {
			return err
		}
		if p := s.room.PinnedID; p == nil || *p != m.ID {
			if err := setPin(t, s, m); err != nil {
				return err
			}
		}
		room = s.room
		return fillRoom(t.db, room, actor.UserID)
	})
	return room, err
}

// Unpin removes the room's pin; with none, it does nothing.
func (c *Chat) Unpin(ctx context.Context, actor Actor, roomID string) error {
	return c.write(ctx, actor, roomID, func(t *txEvents, s *standing) error {
		if err := s.mayPin(); err != nil {
			return err
		}
		if s.room.PinnedID == nil {
			return nil
		}
		return setPin(t, s, nil)
	})
}

// mayPin is the check of a pin or an unpin: a moderator or above, not
// muted (moderators are exempt from the chat lock, slow mode and the flood
// limit).
func (s *standing) mayPin() error {
	if err := s.requireRank(rankModerator); err != nil {
		return err
	}
	return s.postCheck(Rate{}, false)
}

// setPin makes m the room's pinned message (nil: none) and emits room.pinned.
// The message it replaces, if older than the room keeps, is deleted: only the
// pin kept it.
func setPin(t *txEvents, s *standing, m *Message) error {
	var id *string
	ev := &Event{Type: EventRoomPinned, Payload: RoomPinned{Message: m, By: s.actor.UserID}}
	if m != nil {
		id, ev.MessageID = &m.ID, m.ID // MessageID: so that deleting m erases its text here too
		tallies, err := loadReactions(t.db, []string{m.ID}, "")
		if err != nil {
			return err
		}
		m.Reactions = tallies[m.ID]
	}
	if err := t.db.Model(&Room{}).Where("id = ?", s.room.ID).Update("pinned_id", id).Error; err != nil {
		return err
	}
	if old := s.room.PinnedID; old != nil {
		err := t.db.Where("id = ? AND room_id = ? AND seq < ?", *old, s.room.ID, s.room.OldestSeq).Delete(&Message{}).Error
		if err != nil {
			return err
		}
	}
	s.room.PinnedID = id
	return t.emit(ev)
}

// fillRoom fills what a Room answer carries beyond its row: the participant
// count and the pinned message, with its reactions as userID sees them.
func fillRoom(tx *gorm.DB, room *Room, userID string) error {
	if err := countParticipants(tx, room); err != nil {
		return err
	}
	room.Pinned = nil
	if room.PinnedID == nil {
		return nil
	}
	var m Message
	err := tx.Where("id = ? AND room_id = ?", *room.PinnedID, room.ID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil // never expected (prune spares it); a pin without its message is no pin, not a room that cannot be read
	}
	if err != nil {
		return err
	}
	tallies, err := loadReactions(tx, []string{m.ID}, userID)
	m.Reactions = tallies[m.ID]
	room.Pinned = &m
	return err
}

// pinnedBy reads who made a logged room.pinned event from its envelope, so
// that the event can be encoded again with the message's tombstone.
func pinnedBy(data string) (string, error) {
	var env struct {
		Data struct {
			By string `json:"by"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(data), &env); err != nil {
		return "", errors.Join(errors.New("a logged room.pinned event"), err)
	}
	return env.Data.By, nil
}
