package models

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"time"

	"gorm.io/gorm"
)

// The event log as streams read it: the store's reads of a room's events and
// of its newest seq.

// Replay is a slice of a room's event log.
type Replay struct {
	Events []EventRow
	// OldestSeq is the first seq still kept; events before it are gone.
	OldestSeq int64
	// HeadSeq is the room's newest seq when the slice was read.
	HeadSeq int64
}

// EventsAfter reads up to limit events of a room with seq > after, oldest
// first, with the room's retention bounds from the same snapshot. It checks no
// access: the stream checks that when it opens, and the broadcaster uses it to
// fill gaps.
func (s *Store) EventsAfter(ctx context.Context, roomID string, after int64, limit int) (*Replay, error) {
	var out Replay
	err := s.read(ctx, func(tx *gorm.DB) error {
		var r Room
		if err := tx.Select("last_seq", "oldest_seq").Where("id = ? AND closed_at IS NULL", roomID).Take(&r).Error; err != nil {
			return err
		}
		out.OldestSeq, out.HeadSeq = r.OldestSeq, r.LastSeq
		return tx.Where("room_id = ? AND seq > ?", roomID, after).Order("seq").Limit(limit).Find(&out.Events).Error
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Head returns the room's newest seq, or ErrNotFound.
func (s *Store) Head(ctx context.Context, roomID string) (int64, error) {
	var r Room
	err := s.read(ctx, func(tx *gorm.DB) error {
		return tx.Select("last_seq").Where("id = ? AND closed_at IS NULL", roomID).Take(&r).Error
	})
	return r.LastSeq, err
}

// Heads returns the newest seq of each open room among ids, in one statement
// however many there are: the broadcaster checks every room a node serves this
// way, so idle rooms cost the database nothing each. A closed or unknown room
// is missing from the result.
func (s *Store) Heads(ctx context.Context, ids []string) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	defer func(start time.Time) { s.observer.StoreDone("read", time.Since(start)) }(time.Now())
	// One parameter holds the whole list, so no variable limit applies
	// (SQLite allows 32,766) and the statement's text is always the same.
	query, arg := headsSQLite, any(nil)
	if s.pg {
		query, arg = headsPostgres, textArray(ids)
	} else {
		list, err := json.Marshal(ids)
		if err != nil {
			return nil, err
		}
		arg = string(list)
	}
	rows, err := s.r.WithContext(ctx).Raw(query, arg).Rows()
	if err != nil {
		return nil, storeErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, storeErr(err)
		}
		out[id] = seq
	}
	return out, storeErr(rows.Err())
}

const (
	headsPostgres = "SELECT id, last_seq FROM rooms WHERE id = ANY(?) AND closed_at IS NULL"
	headsSQLite   = "SELECT id, last_seq FROM rooms WHERE id IN (SELECT value FROM json_each(?)) AND closed_at IS NULL"
)

// textArray reaches PostgreSQL as one text[] parameter (pgx encodes the
// []string); gorm would expand a plain slice into a parameter per element.
type textArray []string

// Value implements driver.Valuer.
func (a textArray) Value() (driver.Value, error) { return []string(a), nil }
