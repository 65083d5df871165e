package models

import (
	"gorm.io/gorm"
)

// txn is one transaction as the use cases see it. The writer that opens it
// (the SQLite writer, a PostgreSQL batch of sends, a plain PostgreSQL
// transaction, or a read) fills in what the transaction may use, and the use
// cases hand it on explicitly: nothing about a transaction travels in a
// context.
type txn struct {
	db *gorm.DB
	pg bool
	// cache is the send cache (see sendCache) that a send may use: the
	// SQLite writer's or its PostgreSQL batch's. It is nil in every other
	// transaction, so nothing but a send can read or change it.
	cache *sendCache
	// writer is the SQLite writer whose connection runs the transaction:
	// exec and queryInt64s use statements prepared on it. nil elsewhere.
	writer *groupWriter
	// pipe, set for the last steps of a PostgreSQL batch, takes exec's
	// statements to send with COMMIT (see pipeline).
	pipe *pipeline
	// work is the work the transaction does once at its end (see atCommit);
	// nil where there is no end to wait for.
	work *commitWork
}

// exec runs q in the transaction and says how many rows it changed. On the
// SQLite writer, q runs as a statement prepared once on the writer's
// connection, past gorm: for the few statements every send runs, gorm's
// building of the statement cost more than SQLite's running it.
//
// In the last steps of a PostgreSQL batch (see pipeline), q is queued instead
// and the count is 0.
func (t *txn) exec(q string, args ...any) (int64, error) {
	switch {
	case t.pipe != nil:
		t.pipe.queue(q, args...)
		return 0, nil
	case t.writer == nil:
		res := t.db.Exec(q, args...)
		return res.RowsAffected, res.Error
	}
	st, err := t.writer.stmt(q)
	if err != nil {
		return 0, err
	}
	res, err := st.Exec(args...)
	if err != nil {
		return 0, t.writer.translate(err)
	}
	return res.RowsAffected()
}

// queryInt64s is exec for a query of one integer column.
func (t *txn) queryInt64s(q string, args ...any) ([]int64, error) {
	var out []int64
	if t.writer == nil {
		return out, t.db.Raw(q, args...).Scan(&out).Error
	}
	st, err := t.writer.stmt(q)
	if err != nil {
		return nil, err
	}
	rows, err := st.Query(args...)
	if err != nil {
		return nil, t.writer.translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// commitWork is work that a write transaction does once at its end, after
// every write in it: on SQLite, once for a whole group commit.
type commitWork struct {
	keys map[string]bool
	fns  []func(t *txn) error
	// soon, when set, takes the work that may wait (see atCommitOrSoon).
	soon func(key string, f func(t *txn) error)
}

// atCommit asks for f to run at the end of the write transaction, once per
// key however many writes ask. If a write that asked is rolled back, f runs
// all the same, so it must be right to run at any time. In a transaction
// without an end to wait for, f runs at once.
func (t *txn) atCommit(key string, f func(t *txn) error) error {
	w := t.work
	if w == nil {
		return f(t)
	}
	if w.keys == nil {
		w.keys = map[string]bool{}
	}
	if !w.keys[key] {
		w.keys[key] = true
		w.fns = append(w.fns, f)
	}
	return nil
}

// atCommitOrSoon is atCommit for work that may also run after the commit,
// within a second, in a transaction of its own: where the transaction says
// so (a PostgreSQL batch of sends, which holds its room's lock and would
// hold it longer), f is handed on; elsewhere it runs at commit.
func (t *txn) atCommitOrSoon(key string, f func(t *txn) error) error {
	if t.work != nil && t.work.soon != nil {
		t.work.soon(key, f)
		return nil
	}
	return t.atCommit(key, f)
}

// run does the work asked for, in t.
func (w *commitWork) run(t *txn) error {
	for _, f := range w.fns {
		if err := f(t); err != nil {
			return err
		}
	}
	return nil
}
