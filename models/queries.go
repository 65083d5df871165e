package models

import (
	"strings"
	"time"

	"gorm.io/gorm/clause"
)

// The statements the use cases run as SQL, rather than through gorm's
// builder: those every send runs, where gorm's building cost more than the
// database's running them, and those gorm cannot write. They are methods of
// the transaction, which knows the database and the send cache.

// lockRoom loads an open room and, on PostgreSQL, locks its row until the
// transaction ends, so every write to one room is serialised and checks made
// after it see every change committed before. On SQLite the IMMEDIATE
// transaction already holds the database's write lock.
// In a send, the room comes from the send cache: the SQLite writer's, or the
// PostgreSQL batch's, which locked it when the batch began.
func (t *txn) lockRoom(id string) (*Room, error) {
	load := func() (*Room, error) {
		var r Room
		q := t.db.Where("id = ? AND closed_at IS NULL", id)
		if t.pg {
			q = q.Clauses(lockingClause)
		}
		return &r, q.Take(&r).Error
	}
	if t.cache != nil {
		return t.cache.room(id, load)
	}
	return load()
}

var lockingClause = clause.Locking{Strength: "UPDATE"}

// lockRoomID serialises the transactions that create a room id. On
// PostgreSQL a row lock cannot do it: SELECT … FOR UPDATE on a row that does
// not exist yet locks nothing, so two creates would both insert and the loser
// would hear "duplicate key". A transaction-scoped advisory lock on the id's
// hash is held until commit, after which the next creator reads the committed
// row (each statement reads afresh at READ COMMITTED) and gets its 200 or 409.
// Two ids sharing a hash only queue behind each other. On SQLite the IMMEDIATE
// transaction already holds the database's write lock.
func (t *txn) lockRoomID(id string) error {
	if !t.pg {
		return nil
	}
	return t.db.Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "resonate-chat room "+id).Error
}

// nextSeq advances the room's counter in the transaction and returns the new value.
// The row lock this takes orders concurrent writers of one room, so seq order
// is commit order on PostgreSQL too. In a send on the SQLite writer the seq
// comes from the send cache and reaches the row at the end of the transaction.
func (t *txn) nextSeq(roomID string) (int64, error) {
	if t.cache != nil {
		if seq, ok := t.cache.nextSeq(roomID); ok {
			return seq, nil
		}
	}
	var seq int64
	err := t.db.Raw("UPDATE rooms SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq", roomID).Scan(&seq).Error
	return seq, err
}

// insertRow is an INSERT of one row, written out rather than built by gorm
// from a struct: every event and every send runs one, and gorm's builder
// allocated more than the rest of a send. A batch of sends on PostgreSQL
// writes its rows of one table with one statement (see sendCache.addRow).
type insertRow struct{ into, row, tail string }

// sql is the statement for n rows.
func (s *insertRow) sql(n int) string {
	return s.into + " VALUES " + strings.Repeat(s.row+", ", n-1) + s.row + s.tail
}

var (
	insertEvent = &insertRow{into: "INSERT INTO events (room_id, seq, type, target_id, message_id, data, created_at)",
		row: "(?, ?, ?, ?, ?, ?, ?)"}
	insertMessage = &insertRow{
		into: "INSERT INTO messages (id, room_id, seq, sender_id, sender_name, content, created_at, edited_at, reply_to, is_deleted, client_id, mentions)",
		row:  "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"}
	upsertSendLimit = &insertRow{into: "INSERT INTO send_limits (room_id, user_id, last_post_at, tokens, tokens_at)",
		row: "(?, ?, ?, ?, ?)",
		tail: " ON CONFLICT (room_id, user_id) DO UPDATE SET last_post_at = excluded.last_post_at, tokens = excluded.tokens," +
			" tokens_at = excluded.tokens_at"}
	// oneRow holds each statement for one row, built once: exec keys
	// the SQLite writer's prepared statements by their text.
	oneRow = map[*insertRow]string{insertEvent: insertEvent.sql(1), insertMessage: insertMessage.sql(1),
		upsertSendLimit: upsertSendLimit.sql(1), insertNotification: insertNotification.sql(1)}
)

// insert writes one row with s, or leaves it to the send cache to write
// with the batch's other rows.
func (t *txn) insert(s *insertRow, args ...any) error {
	if t.cache != nil && t.cache.addRow(s, args) {
		return nil
	}
	_, err := t.exec(oneRow[s], args...)
	return err
}

// standingRow is one user's rows in one room, read in a single query.
type standingRow struct {
	KRoomID     *string    `gorm:"column:k_room_id"`
	KUserID     *string    `gorm:"column:k_user_id"`
	PUserID     *string    `gorm:"column:p_user_id"`
	PName       *string    `gorm:"column:p_name"`
	PRole       *string    `gorm:"column:p_role"`
	PJoinedAt   *time.Time `gorm:"column:p_joined_at"`
	PIsAdmin    *bool      `gorm:"column:p_is_admin"`
	BUserID     *string    `gorm:"column:b_user_id"`
	BUntil      *time.Time `gorm:"column:b_until"`
	BReason     *string    `gorm:"column:b_reason"`
	BActorID    *string    `gorm:"column:b_actor_id"`
	BCreatedAt  *time.Time `gorm:"column:b_created_at"`
	MUserID     *string    `gorm:"column:m_user_id"`
	MUntil      *time.Time `gorm:"column:m_until"`
	LUserID     *string    `gorm:"column:l_user_id"`
	LLastPostAt *time.Time `gorm:"column:l_last_post_at"`
	LTokens     *float64   `gorm:"column:l_tokens"`
	LTokensAt   *time.Time `gorm:"column:l_tokens_at"`
}

// standingSQL reads the rows of the (room_id, user_id) pairs of k.
const (
	standingSelect = `SELECT k.room_id AS k_room_id, k.user_id AS k_user_id,
 p.user_id AS p_user_id, p.name AS p_name, p.role AS p_role, p.joined_at AS p_joined_at, p.is_admin AS p_is_admin,
 b.user_id AS b_user_id, b.until AS b_until, b.reason AS b_reason, b.actor_id AS b_actor_id, b.created_at AS b_created_at,
 m.user_id AS m_user_id, m.until AS m_until,
 l.user_id AS l_user_id, l.last_post_at AS l_last_post_at, l.tokens AS l_tokens, l.tokens_at AS l_tokens_at
FROM `
	standingJoins = `
LEFT JOIN participants p ON p.room_id = k.room_id AND p.user_id = k.user_id
LEFT JOIN bans b ON b.room_id = k.room_id AND b.user_id = k.user_id
LEFT JOIN mutes m ON m.room_id = k.room_id AND m.user_id = k.user_id
LEFT JOIN send_limits l ON l.room_id = k.room_id AND l.user_id = k.user_id`
	standingSQL = standingSelect + "(SELECT CAST(? AS TEXT) AS room_id, CAST(? AS TEXT) AS user_id) k" + standingJoins
)

// standingRow reads user's rows in room with one query; in a send, from the
// send cache.
func (t *txn) standingRow(room, user string) (*standingRow, error) {
	read := func() (*standingRow, error) {
		var row standingRow
		return &row, t.db.Raw(standingSQL, room, user).Scan(&row).Error
	}
	if t.cache != nil {
		return t.cache.standingRow(room, user, read)
	}
	return read()
}

// sentBefore returns the sender's message in the room with clientID, or nil:
// from a batch's cache when the batch read it beforehand (see begin).
func (t *txn) sentBefore(roomID, senderID string, clientID *string) (*Message, error) {
	if clientID == nil {
		return nil, nil
	}
	if t.cache != nil {
		if m, ok := t.cache.sent[sendKey{roomID, senderID, clientID}.id()]; ok {
			return m, nil
		}
	}
	var prev Message
	res := t.db.Raw("SELECT * FROM messages WHERE room_id = ? AND sender_id = ? AND client_id = ?", roomID, senderID, *clientID).Scan(&prev)
	if res.Error != nil || res.RowsAffected == 0 {
		return nil, res.Error
	}
	return &prev, nil
}

// prune keeps the room's newest keep messages (deleted ones count) and
// the events from the oldest of them on; older rows are deleted. On SQLite it
// runs once per room at the end of a write transaction (see atCommit), so a
// group commit of many sends to one room prunes it once; on PostgreSQL a
// batch of sends leaves it to run within the second, out of the batch that
// holds the room's lock (see atCommitOrSoon, sendBatcher.soon): the contract
// allows a second for what falls out to be deleted.
//
// The pinned message is kept however old it is (see pins.go); unpinning it
// deletes it if it is older than the room keeps. Its events are not kept.
//
// It runs after every send, so it is written in plain SQL (see exec).
func (t *txn) prune(roomID string, keep int) error {
	if t.pg {
		// One round trip: on PostgreSQL it costs more than the statements.
		_, err := t.exec(prunePostgres, roomID, keep-1, roomID, roomID, roomID, roomID)
		return err
	}
	cutoff, err := t.queryInt64s("SELECT seq FROM messages WHERE room_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?", roomID, keep-1)
	if err != nil || len(cutoff) == 0 {
		return err
	}
	oldest := cutoff[0]
	n, err := t.exec("UPDATE rooms SET oldest_seq = ? WHERE id = ? AND oldest_seq < ?", oldest, roomID, oldest)
	if err != nil || n == 0 {
		return err // nothing fell out since the last prune
	}
	if t.cache != nil {
		t.cache.setOldest(roomID, oldest) // sends read the room from the cache
	}
	if _, err := t.exec("DELETE FROM messages WHERE room_id = ? AND seq < ? AND id IS NOT (SELECT pinned_id FROM rooms WHERE id = ?)",
		roomID, oldest, roomID); err != nil {
		return err
	}
	_, err = t.exec("DELETE FROM events WHERE room_id = ? AND seq < ?", roomID, oldest)
	return err
}

// prunePostgres is prune in one statement: the statements of a WITH see one
// snapshot, and the deletes run only when oldest_seq moved. They delete from
// the old oldest_seq, below which nothing is left: a range open below would
// walk every row deleted before and not yet vacuumed, which under a steady
// stream of sends grew to thousands of index entries a prune.
//
// The pinned message spared is the one moved's UPDATE returns: the UPDATE
// waits for a pin or unpin holding the room's row and then reads the row as
// that committed (READ COMMITTED re-reads an updated row), where the
// statement's snapshot could miss a pin made meanwhile. A pin that waits for
// the prune instead finds its message gone: 404.
const prunePostgres = `WITH cut AS (SELECT seq FROM messages WHERE room_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?),
 old AS (SELECT oldest_seq FROM rooms WHERE id = ?),
 moved AS (UPDATE rooms SET oldest_seq = cut.seq FROM cut, old WHERE rooms.id = ? AND rooms.oldest_seq < cut.seq
  RETURNING old.oldest_seq AS low, cut.seq AS high, rooms.pinned_id AS pinned),
 m AS (DELETE FROM messages WHERE room_id = ? AND seq >= (SELECT low FROM moved) AND seq < (SELECT high FROM moved)
  AND id IS DISTINCT FROM (SELECT pinned FROM moved)),
 e AS (DELETE FROM events WHERE room_id = ? AND seq >= (SELECT low FROM moved) AND seq < (SELECT high FROM moved))
SELECT 1`
