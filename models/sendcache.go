package models

import "slices"

// sendCache is what a run of sends remembers, so that a send does not read
// its room and its sender's standing, nor bump the room's seq and the
// sender's flood bucket, with four statements each time. The SQLite writer
// owns one for good; on PostgreSQL each batch of sends to a room owns one
// for its transaction only (see sendBatcher for why that is safe). Its owner
// hands it to sends alone, in their txn; no other write sees it. The rules:
//
//   - What a send may change: instead of the rows, a room's last_seq (see
//     nextSeq) and the sender's send limit (see setLimit); it reads the room
//     and the sender's standing from the cache, loading them on a miss. On
//     PostgreSQL it also leaves its message and event rows to the cache (see
//     addRow). The commit work of sends, prune, changes a room's oldest_seq
//     in the rows and the cache alike. Nothing else in the cache changes.
//   - When it is undone: a send's changes are kept in an undo log until its
//     savepoint is released (keep); a send that fails undoes them (rollback).
//   - When it is written back (flush): at the end of every transaction,
//     before the commit work and COMMIT, once per room (seq) and per sender
//     (flood bucket); and on SQLite before any write that is not a send.
//   - When it is emptied (reset): on SQLite before every write that is not a
//     send (join, mute, ban, lock, edit, close…), which then runs against the
//     rows, so the next send reads them afresh; when a transaction fails, as
//     the database dropped its pending changes too; and at the end of a
//     transaction when it holds over maxCachedStandings standings (trim).
//
// The SQLite writer's cache is safe because only the writer goroutine touches
// it, and the writer is the only connection that writes the database: a rule
// is therefore never checked against anything but the latest committed or
// in-transaction state.
type sendCache struct {
	rooms    map[string]*Room
	standing map[standingKey]*standingRow
	// dirtyRooms and dirtyLimits are rows whose cached last_seq or send
	// limit the database does not have yet.
	dirtyRooms  map[string]bool
	dirtyLimits map[standingKey]bool
	// rows are the rows sends inserted, by statement, when the cache holds
	// them until flush: one statement then writes them all. Only a
	// PostgreSQL batch's cache does (nil otherwise), where a round trip
	// costs more than the row; a failed flush rolls the batch back whole.
	rows map[*insertRow][][]any
	// sent holds, for a PostgreSQL batch, each client id's earlier message
	// as read before the batch's sends ran (nil: there was none); see
	// begin. A send of the batch that uses the same client id again
	// is not in it: the unique index refuses the second row at COMMIT and
	// the sends run again alone.
	sent map[string]*Message
	undo []func()
}

// sendKey says who sends and with which client id, so that a batch can read
// ahead for its sends.
type sendKey struct {
	room, user string
	clientID   *string
}

// id is the key's text for a map: room and user ids never hold a NUL.
func (k sendKey) id() string {
	if k.clientID == nil {
		return k.room + "\x00" + k.user
	}
	return k.room + "\x00" + k.user + "\x00" + *k.clientID
}

type standingKey struct{ room, user string }

// maxCachedStandings bounds the cache: past it, the cache starts over at the
// end of the next transaction.
const maxCachedStandings = 10000

func newSendCache() *sendCache {
	c := &sendCache{}
	c.reset()
	return c
}

// batchRows makes the cache hold inserted rows until flush (see rows).
func (c *sendCache) batchRows() *sendCache {
	c.rows = map[*insertRow][][]any{}
	c.sent = map[string]*Message{}
	return c
}

// reset forgets everything, pending changes included.
func (c *sendCache) reset() {
	c.rooms = map[string]*Room{}
	c.standing = map[standingKey]*standingRow{}
	c.dirtyRooms = map[string]bool{}
	c.dirtyLimits = map[standingKey]bool{}
	c.undo = c.undo[:0]
}

// writeBack writes the pending changes to the rows and empties the cache.
func (c *sendCache) writeBack(t *txn) error {
	if err := c.flush(t); err != nil {
		return err
	}
	c.reset()
	return nil
}

// flush writes the pending changes to the rows, in t.
func (c *sendCache) flush(t *txn) error {
	for id := range c.dirtyRooms {
		if _, err := t.exec("UPDATE rooms SET last_seq = ? WHERE id = ?", c.rooms[id].LastSeq, id); err != nil {
			return err
		}
	}
	for k := range c.dirtyLimits {
		r := c.standing[k]
		if err := t.insert(upsertSendLimit, k.room, k.user, *r.LLastPostAt, *r.LTokens, *r.LTokensAt); err != nil {
			return err
		}
	}
	for _, s := range []*insertRow{insertMessage, insertEvent, upsertSendLimit, insertNotification} {
		if rows := c.rows[s]; len(rows) > 0 {
			if _, err := t.exec(s.sql(len(rows)), slices.Concat(rows...)...); err != nil {
				return err
			}
		}
	}
	clear(c.dirtyRooms)
	clear(c.dirtyLimits)
	clear(c.rows)
	c.undo = c.undo[:0]
	return nil
}

// addRow keeps a row for flush to write with the others of its table, when
// the cache holds rows (see batchRows); it reports whether it took the row.
func (c *sendCache) addRow(s *insertRow, args []any) bool {
	if c.rows == nil {
		return false
	}
	n := len(c.rows[s])
	c.undo = append(c.undo, func() { c.rows[s] = c.rows[s][:n] })
	c.rows[s] = append(c.rows[s], args)
	return true
}

// pending reports whether the send in progress has changed the cache: taken
// a seq or spent a token. A send takes its seq before it writes its first
// row, so one that fails without pending has written nothing.
func (c *sendCache) pending() bool { return len(c.undo) > 0 }

// keep ends a send that succeeded: its changes can no longer be undone alone.
func (c *sendCache) keep() { c.undo = c.undo[:0] }

// rollback undoes the changes of the send in progress, newest first.
func (c *sendCache) rollback() {
	for i := len(c.undo) - 1; i >= 0; i-- {
		c.undo[i]()
	}
	c.undo = c.undo[:0]
}

// room returns the cached open room id, reading it with load on a miss.
func (c *sendCache) room(id string, load func() (*Room, error)) (*Room, error) {
	return getOrLoad(c.rooms, id, load)
}

// getOrLoad returns m[k], reading it with load and keeping it on a miss.
func getOrLoad[K comparable, V any](m map[K]V, k K, load func() (V, error)) (V, error) {
	if v, ok := m[k]; ok {
		return v, nil
	}
	v, err := load()
	if err == nil {
		m[k] = v
	}
	return v, err
}

// nextSeq takes the room's next seq; the row gets it at flush.
func (c *sendCache) nextSeq(id string) (int64, bool) {
	r, ok := c.rooms[id]
	if !ok {
		return 0, false
	}
	prev, wasDirty := r.LastSeq, c.dirtyRooms[id]
	c.undo = append(c.undo, func() { r.LastSeq = prev; setOrDelete(c.dirtyRooms, id, wasDirty) })
	r.LastSeq++
	c.dirtyRooms[id] = true
	return r.LastSeq, true
}

// setOldest follows a prune of the room.
func (c *sendCache) setOldest(id string, oldest int64) {
	if r, ok := c.rooms[id]; ok {
		r.OldestSeq = oldest
	}
}

// standingRow returns the cached rows of user in room, reading them with load
// on a miss.
func (c *sendCache) standingRow(room, user string, load func() (*standingRow, error)) (*standingRow, error) {
	return getOrLoad(c.standing, standingKey{room, user}, load)
}

// setLimit records a post in the user's flood bucket; the row gets it at flush.
func (c *sendCache) setLimit(l SendLimit) bool {
	k := standingKey{l.RoomID, l.UserID}
	r, ok := c.standing[k]
	if !ok {
		return false
	}
	prev, wasDirty := *r, c.dirtyLimits[k]
	c.undo = append(c.undo, func() { *r = prev; setOrDelete(c.dirtyLimits, k, wasDirty) })
	user, last, tokens, at := l.UserID, l.LastPostAt, l.Tokens, l.TokensAt
	r.LUserID, r.LLastPostAt, r.LTokens, r.LTokensAt = &user, &last, &tokens, &at
	c.dirtyLimits[k] = true
	return true
}

// setOrDelete keeps a set's keys to its true members.
func setOrDelete[K comparable](set map[K]bool, k K, in bool) {
	if in {
		set[k] = true
	} else {
		delete(set, k)
	}
}

// trim starts over when the cache has grown past its bound; call it only
// after flush.
func (c *sendCache) trim() {
	if len(c.standing) > maxCachedStandings {
		c.reset()
	}
}
