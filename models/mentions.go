package models

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"slices"

	"gorm.io/gorm"
)

// MaxMentions is how many distinct users one message may mention.
const MaxMentions = 20

// UserIDs is a list of user ids kept in one column as a JSON array: a
// message's mentions are read with it and never queried by, so a table of
// their own would cost a join on every page of history for nothing.
type UserIDs []string

// Value implements driver.Valuer: nil is stored as [].
func (u UserIDs) Value() (driver.Value, error) {
	if u == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]string(u))
	return string(b), err
}

// Scan implements sql.Scanner.
func (u *UserIDs) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case nil:
		*u = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("mentions: cannot scan %T", v)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("mentions: %w", err)
	}
	*u = out
	return nil
}

// cleanMentions checks the form of the ids a send or an edit mentions and
// folds repeats, keeping the order of first mention. Whether each is a
// participant is checked in the writing transaction (checkMentioned).
func cleanMentions(ids []string) (UserIDs, error) {
	if ids == nil {
		return nil, nil
	}
	out := UserIDs{}
	for _, id := range ids {
		if err := ValidUserID(id); err != nil {
			return nil, Invalidf("mentions: %q is not a user id", id)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if len(out) > MaxMentions {
		return nil, Invalidf("mentions: %d distinct users; the limit is %d", len(out), MaxMentions)
	}
	return out, nil
}

// checkMentioned refuses ids that are not participants of the room, naming
// the first, unless they are in known (already mentioned by the message: an
// edit keeps a mention of someone who has left since).
func checkMentioned(tx *gorm.DB, roomID string, ids, known UserIDs) error {
	var check []string
	for _, id := range ids {
		if !slices.Contains(known, id) {
			check = append(check, id)
		}
	}
	if len(check) == 0 {
		return nil
	}
	var found []string
	if err := tx.Model(&Participant{}).Where("room_id = ? AND user_id IN ?", roomID, check).Pluck("user_id", &found).Error; err != nil {
		return err
	}
	for _, id := range check {
		if !slices.Contains(found, id) {
			return Invalidf("mentions: %q is not a participant of this room", id)
		}
	}
	return nil
}

// newlyMentioned is who a message mentioning ids, and before that known,
// should notify: the users not mentioned before, but not its sender, who
// needs no push about their own message.
func newlyMentioned(ids, known UserIDs, sender string) []string {
	var out []string
	for _, id := range ids {
		if id != sender && !slices.Contains(known, id) {
			out = append(out, id)
		}
	}
	return out
}
