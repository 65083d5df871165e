package models

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
)

// maxBatch bounds how many writes share one SQLite transaction: enough to
// absorb a burst from every connection at once, small enough that the first
// writer in a batch does not wait long for the last.
const maxBatch = 128

// writeReq is one use case waiting for the SQLite writer.
type writeReq struct {
	ctx  context.Context
	send bool    // fn may use the send cache
	key  sendKey // for a send: who sends, and the client id
	fn   func(t *txn) error
	done chan error
	// waited says a PostgreSQL batch passed the send over because another
	// transaction held its room; its next batch waits for the room.
	waited bool
}

// groupWriter owns the single SQLite write connection. It runs every write
// that is waiting when it is free in one transaction, each inside a savepoint
// so that a refused use case rolls back alone, and answers each only after the
// shared COMMIT: a 201 still means committed, but a burst of N sends costs one
// commit instead of N.
type groupWriter struct {
	// db is bound to conn, a connection the writer owns for good: it begins
	// and commits with plain statements, so gorm's prepared statements stay
	// cached on that connection (inside a *sql.Tx they are prepared anew
	// for every transaction, which costs as much as running them).
	db   *gorm.DB
	conn *sql.Conn
	// stmts are the transaction and savepoint statements, prepared once on
	// conn: through gorm they cost more than the statements they wrap.
	stmts map[string]*sql.Stmt
	// cache is the writer's send cache (see sendCache): the writer
	// goroutine alone touches it, like conn, and hands it to sends.
	cache    *sendCache
	observer Observer
	// commits counts the transactions the writer has ended, for the
	// checkpointer.
	commits atomic.Uint64
	queue   chan *writeReq
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func newGroupWriter(pool *sql.DB) (*groupWriter, error) {
	conn, err := pool.Conn(context.Background())
	if err != nil {
		return nil, err
	}
	// The writer's own checkpoints (see checkpointer) stall it for an fsync
	// of the database file: make them rare. 10,000 pages bound the WAL to
	// about 40 MB.
	if _, err := conn.ExecContext(context.Background(), "PRAGMA wal_autocheckpoint=10000"); err != nil {
		conn.Close()
		return nil, err
	}
	cfg := gormConfig(true)
	cfg.DisableAutomaticPing = true // the connection is open; gorm cannot ping a *sql.Conn
	db, err := gorm.Open(sqlite.New(sqlite.Config{Conn: conn}), cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	g := &groupWriter{db: db, conn: conn, stmts: map[string]*sql.Stmt{}, cache: newSendCache(), observer: nopObserver{},
		queue: make(chan *writeReq, maxBatch), stop: make(chan struct{})}
	for _, q := range []string{"BEGIN IMMEDIATE", "SAVEPOINT w", "ROLLBACK TO SAVEPOINT w", "RELEASE SAVEPOINT w", "COMMIT", "ROLLBACK"} {
		st, err := conn.PrepareContext(context.Background(), q)
		if err != nil {
			conn.Close()
			return nil, err
		}
		g.stmts[q] = st
	}
	g.wg.Add(1)
	go g.run()
	return g, nil
}

// write queues fn and waits for its outcome. Once queued, a write runs even if
// ctx ends, so that a client which goes away cannot leave a half-made batch.
func (g *groupWriter) write(ctx context.Context, send bool, fn func(t *txn) error) error {
	req := &writeReq{ctx: ctx, send: send, fn: fn, done: make(chan error, 1)}
	select {
	case g.queue <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stop:
		return ErrUnavailable
	}
	return <-req.done
}

func (g *groupWriter) run() {
	defer g.wg.Done()
	batch := make([]*writeReq, 0, maxBatch)
	for {
		select {
		case req := <-g.queue:
			batch = append(batch[:0], req)
		case <-g.stop:
			return
		}
	collect:
		for len(batch) < maxBatch {
			select {
			case req := <-g.queue:
				batch = append(batch, req)
			default:
				break collect
			}
		}
		g.commit(batch)
	}
}

// commit runs one batch in one transaction and answers each write after the
// transaction has ended: if it fails, every write in it gets that error.
func (g *groupWriter) commit(batch []*writeReq) {
	start := time.Now()
	errs := make([]error, len(batch))
	err := g.exec("BEGIN IMMEDIATE")
	if err == nil {
		err = g.transact(batch, errs)
	}
	if err != nil {
		_ = g.exec("ROLLBACK") // fails harmlessly when no transaction is open
		g.cache.reset()        // its pending changes were rolled back with it
	}
	g.cache.trim()
	g.commits.Add(1)
	g.observer.GroupCommit(time.Since(start), len(batch))
	for i, req := range batch {
		if err != nil && errs[i] == nil {
			errs[i] = err
		}
		req.done <- errs[i]
	}
}

// transact runs the batch's writes in the open transaction and ends it, by
// the send cache's rules (see sendCache): a send runs with the cache, any
// other write after the cache is written back and emptied, and at the end
// the cache is written back before the commit work and COMMIT. A write whose
// context already ended is skipped; a write that fails rolls back to its
// savepoint, or, alone in the batch, rolls back the transaction. It returns
// the transaction's error; each write's own is in errs.
func (g *groupWriter) transact(batch []*writeReq, errs []error) error {
	t := &txn{db: g.db, writer: g, work: &commitWork{}}
	send := *t
	send.cache = g.cache
	// A write alone in its transaction needs no savepoint: if it fails, the
	// transaction is rolled back instead.
	savepoints := len(batch) > 1
	for i, req := range batch {
		if errs[i] = req.ctx.Err(); errs[i] != nil {
			continue
		}
		wt := &send
		if !req.send {
			if err := g.cache.writeBack(t); err != nil {
				return err
			}
			wt = t
		}
		if savepoints {
			if err := g.exec("SAVEPOINT w"); err != nil {
				return err
			}
		}
		if errs[i] = runSafely(wt, req.fn); errs[i] != nil {
			g.cache.rollback()
			if !savepoints {
				return g.exec("ROLLBACK")
			}
			if err := g.exec("ROLLBACK TO SAVEPOINT w"); err != nil {
				return err
			}
		}
		g.cache.keep()
		if savepoints {
			// Released at once: nested savepoints make SQLite track every
			// level on each page it writes.
			if err := g.exec("RELEASE SAVEPOINT w"); err != nil {
				return err
			}
		}
	}
	if err := g.cache.flush(t); err != nil {
		return err
	}
	if err := t.work.run(&send); err != nil {
		return err
	}
	return g.exec("COMMIT")
}

func (g *groupWriter) exec(stmt string) error {
	_, err := g.stmts[stmt].Exec()
	return err
}

// stmt returns q prepared on the writer's connection, preparing it the first
// time. Only the writer goroutine calls it.
func (g *groupWriter) stmt(q string) (*sql.Stmt, error) {
	if st, ok := g.stmts[q]; ok {
		return st, nil
	}
	st, err := g.conn.PrepareContext(context.Background(), q)
	if err != nil {
		return nil, g.translate(err)
	}
	g.stmts[q] = st
	return st, nil
}

// translate turns a driver error into gorm's (a duplicate key, say), as gorm
// does for the statements it runs.
func (g *groupWriter) translate(err error) error {
	if t, ok := g.db.Dialector.(gorm.ErrorTranslator); ok {
		return t.Translate(err)
	}
	return err
}

// runSafely runs fn, turning a panic into an error so one bad write cannot
// take the writer down with the others' work.
func runSafely(t *txn, fn func(t *txn) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("write panicked: %v", r)
		}
	}()
	return fn(t)
}

// close stops the writer after the batch in hand.
func (g *groupWriter) close() {
	g.once.Do(func() {
		close(g.stop)
		g.wg.Wait()
		for _, st := range g.stmts {
			st.Close()
		}
		g.conn.Close()
	})
}

// checkpointEvery is how often the WAL is copied back into the database. A
// checkpoint first makes the WAL durable (fsync), and the writer's own
// checkpoint, when the WAL passes its threshold, pays for every WAL byte not
// yet synced: at 500 ms that was tens of megabytes under load and a 40 ms
// stall of every send; at 20 ms it is little enough that W3 saw no commit
// over 8 ms (POST p99 30 → 11 ms). Between checkpoints with nothing new,
// a tick costs one cheap call.
const checkpointEvery = 20 * time.Millisecond

// checkpointer copies the WAL into the database file from its own connection,
// beside the writer. SQLite also checkpoints inside the commit that takes the
// WAL past its threshold, stalling every write queued behind it; with this
// copying and syncing most pages beforehand, that checkpoint has little left
// to do. The writer's own checkpoint stays: only one that runs while nothing
// is written can finish for sure, and only a finished one lets the WAL start
// over instead of growing. PASSIVE never waits for the writer or for readers.
type checkpointer struct {
	db   *sql.DB
	stop chan struct{}
	done chan struct{}
}

// newCheckpointer checkpoints db whenever commits, the writer's count of
// transactions, has moved since the last tick: an idle server does nothing.
func newCheckpointer(db *sql.DB, commits *atomic.Uint64) *checkpointer {
	c := &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		var seen uint64
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				if n := commits.Load(); n != seen {
					if _, err := c.db.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err == nil {
						seen = n // a failure is retried next tick
					}
				}
			}
		}
	}()
	return c
}

func (c *checkpointer) close() {
	close(c.stop)
	<-c.done
	c.db.Close()
}
