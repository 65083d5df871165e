package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"
	"time"

	"gorm.io/gorm"
)

// sendBatcher is PostgreSQL's group commit for sends: the concurrent sends of
// one node share one transaction, so each room's row lock (which orders every
// write to the room, across nodes) is taken once per batch and not once per
// send, and a batch of sends to many rooms costs one commit. On this machine
// a PostgreSQL transaction costs about a millisecond of the server's CPU
// whatever it holds, so the number of transactions, not of sends, is what
// bounds a node.
//
// A node's sends go to one worker (the new lane): with sends waiting it
// takes all of them, runs them in one transaction and answers each after
// COMMIT; sends that arrive meanwhile form the next batch. One worker and not
// several: more overlapped one batch's round trip with another's work in the
// server, but split the sends into more transactions, and a transaction's
// cost, not a send's, bounds a node (W3 on PostgreSQL took 14-35 % more
// sends a second with one than with two; docs/PERFORMANCE.md § Many nodes).
//
// A batch does not wait for a room another transaction holds (another
// node's batch, most often): it locks the rooms it can at once (SKIP LOCKED)
// and passes the sends for the others to the wait lane, whose batches wait
// for their rooms. So two nodes sending to the same rooms work side by side
// on the rooms each holds instead of taking turns with all of them, a room
// held for long holds up its own sends only, and no send is passed over
// twice. A batch takes the rooms it waits for first, in the order of their
// ids, holding nothing else, as every other write does (each locks one room),
// and then never waits for a lock again: no two transactions wait for each
// other in a circle.
//
// Inside a batch the sends share a sendCache that lives only as long as the
// transaction: the rooms are locked from the start to COMMIT, and every
// write that changes a room or a standing in it locks the room first, so
// nothing another node commits can change what the cache holds while the
// batch runs. The next batch reads everything afresh.
//
// A send refused by a rule (muted, banned, rate limited…) is refused before
// it writes anything: its cache changes are undone and the batch goes on
// without it. A send that fails otherwise, or after it took a seq (see
// sendCache.pending), may have left rows or aborted the transaction: the batch
// is rolled back whole and every send in it runs again alone, so each gets
// the outcome it would have had by itself; a send's function must therefore
// set its results afresh each time it runs. No savepoints are taken: they
// cost two round trips a send, and a failure past a send's checks is a
// database failure, which is rare.
type sendBatcher struct {
	db       *gorm.DB
	pool     *sql.DB
	observer Observer
	mu       sync.Mutex
	// queues holds the sends waiting in each lane; a lane is a key
	// exactly while its worker runs.
	queues map[lane][]*writeReq
	// later holds the work batches handed on to run soon (see
	// atCommitOrSoon), one per key: pruning a room, which in the batch
	// would hold the room's lock for a statement more.
	later  map[string]func(t *txn) error
	closed bool
	wg     sync.WaitGroup
	stop   chan struct{}
	done   chan struct{}
}

// lane is a queue of sends with its worker: newLane takes every send as it
// comes; waitLane the sends passed over once (see errBusy), whose rooms its
// worker waits for, so that newLane's worker never waits for a room and
// sends to other rooms go on meanwhile.
type lane int

const (
	newLane lane = iota
	waitLane
)

// soonEvery is how often work handed on by batches runs: inside the second
// the contract gives retention, and rare enough that a busy room is pruned
// once for many batches (every node prunes the rooms it sends to).
const soonEvery = 500 * time.Millisecond

func newSendBatcher(db *gorm.DB, pool *sql.DB) *sendBatcher {
	b := &sendBatcher{db: db, pool: pool, observer: nopObserver{}, queues: map[lane][]*writeReq{},
		later: map[string]func(t *txn) error{}, stop: make(chan struct{}), done: make(chan struct{})}
	go b.runLater()
	return b
}

// soon keeps f to run within soonEvery, once however many batches ask.
func (b *sendBatcher) soon(key string, f func(t *txn) error) {
	b.mu.Lock()
	b.later[key] = f
	b.mu.Unlock()
}

// runLater runs the work handed on until close; then once more, so nothing
// asked for before close is left. Work that fails is kept for the next round
// unless newer work replaced it. Each is one statement (a prune), run on its
// own: PostgreSQL makes it a transaction, and the room it locks is held for
// the statement alone, not for the round trips of BEGIN and COMMIT too.
func (b *sendBatcher) runLater() {
	defer close(b.done)
	t := time.NewTicker(soonEvery)
	defer t.Stop()
	for stopping := false; !stopping; {
		select {
		case <-t.C:
		case <-b.stop:
			stopping = true
		}
		b.mu.Lock()
		work := b.later
		b.later = map[string]func(t *txn) error{}
		b.mu.Unlock()
		for key, f := range work {
			ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
			err := f(&txn{db: b.db.WithContext(ctx), pg: true})
			cancel()
			if err != nil {
				b.mu.Lock()
				if _, newer := b.later[key]; !newer {
					b.later[key] = f
				}
				b.mu.Unlock()
			}
		}
	}
}

// batchTimeout bounds one batch's transaction: far above the milliseconds a
// batch takes, and about what a client waits for an answer before it retries.
const batchTimeout = 30 * time.Second

// errAlone asks for a batch's sends to run again one by one.
var errAlone = errors.New("run the batch's sends alone")

// write queues a send and waits for its outcome. Once queued, a send runs
// even if ctx ends before its batch commits; one whose ctx has ended before
// its batch begins is skipped.
func (b *sendBatcher) write(ctx context.Context, key sendKey, fn func(t *txn) error) error {
	req := &writeReq{ctx: ctx, send: true, key: key, fn: fn, done: make(chan error, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrUnavailable
	}
	b.enqueue(newLane, req)
	b.mu.Unlock()
	return <-req.done
}

// enqueue adds reqs to a lane and starts its worker unless it runs; b.mu
// must be held.
func (b *sendBatcher) enqueue(l lane, reqs ...*writeReq) {
	queued, running := b.queues[l]
	b.queues[l] = append(queued, reqs...)
	if !running {
		b.wg.Add(1)
		go b.drain(l)
	}
}

// drain commits the lane's queued sends, a batch at a time, until none wait.
func (b *sendBatcher) drain(l lane) {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		batch := b.queues[l]
		switch {
		case len(batch) == 0:
			delete(b.queues, l)
			b.mu.Unlock()
			return
		case len(batch) > maxBatch:
			b.queues[l] = batch[maxBatch:]
			batch = batch[:maxBatch]
		default:
			b.queues[l] = nil
		}
		b.mu.Unlock()
		b.commit(batch)
	}
}

// commit runs batch in one transaction, or each of its sends alone when the
// batch cannot commit as a whole, and answers every send but those passed
// over, which go to the wait lane.
func (b *sendBatcher) commit(batch []*writeReq) {
	errs, err := b.try(batch)
	if errors.Is(err, errAlone) {
		for i := range batch {
			b.commit(batch[i : i+1])
		}
		return
	}
	var again []*writeReq
	for i, req := range batch {
		if errs[i] == errBusy {
			req.waited = true
			again = append(again, req)
			continue
		}
		if err != nil && errs[i] == nil {
			errs[i] = err
		}
		req.done <- errs[i]
	}
	if len(again) > 0 {
		b.mu.Lock()
		b.enqueue(waitLane, again...)
		b.mu.Unlock()
	}
}

// errBusy marks a send its batch passed over: another transaction held its
// room when the batch began (see begin).
var errBusy = errors.New("room held by another transaction")

// try runs batch in one transaction. It returns each send's own error and the
// transaction's; errAlone when a send failed in a way that spoils the others.
//
// The transaction runs on a connection taken from the pool for the batch, so
// that it can talk to PostgreSQL in pipelines: one round trip opens it (see
// begin), the sends then run on what that read, and one round trip ends it —
// the cache's rows, the commit work (pruning) and COMMIT. The room stays
// locked for little more than those two round trips, which is what bounds a
// room's rate when several nodes send to it.
func (b *sendBatcher) try(batch []*writeReq) (errs []error, err error) {
	defer func(start time.Time) { b.observer.GroupCommit(time.Since(start), len(batch)) }(time.Now())
	errs = make([]error, len(batch))
	// The transaction is the batch's, not one client's: a client that goes
	// away must not roll back the others' sends. A database that stops
	// answering fails the batch after batchTimeout instead of holding its
	// senders for good.
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	conn, err := b.pool.Conn(ctx)
	if err != nil {
		return errs, err
	}
	defer conn.Close()
	cache := newSendCache().batchRows()
	if err := begin(ctx, conn, cache, batch); err != nil {
		return errs, discard(conn, err)
	}
	for i, req := range batch {
		if _, locked := cache.rooms[req.key.room]; !locked && !req.waited {
			errs[i] = errBusy
		}
	}
	db := b.db.Session(&gorm.Session{NewDB: true, Context: ctx})
	db.Statement.ConnPool = conn
	t := &txn{db: db, pg: true, cache: cache, work: &commitWork{soon: b.soon}}
	err = b.run(t, batch, errs)
	if err == nil {
		// From here on, statements go in one round trip with COMMIT.
		t.pipe = &pipeline{}
		if err = cache.flush(t); err == nil {
			err = t.work.run(t)
		}
		if err == nil {
			err = t.pipe.commit(ctx, conn)
		}
	}
	if err != nil {
		if _, rerr := conn.ExecContext(ctx, "ROLLBACK"); rerr != nil {
			err = discard(conn, err)
		}
		if len(batch) > 1 && !errors.Is(err, errAlone) {
			// A row the others did not write may be the cause: the
			// same client id sent twice within the batch, say.
			err = errAlone
		}
	}
	return errs, err
}

// run runs the batch's sends in t, in order, and says whether the
// transaction may commit.
func (b *sendBatcher) run(t *txn, batch []*writeReq, errs []error) error {
	for i, req := range batch {
		if errs[i] == errBusy {
			continue
		}
		if errs[i] = req.ctx.Err(); errs[i] != nil {
			continue
		}
		errs[i] = runSafely(t, req.fn)
		switch {
		case errs[i] == nil:
			t.cache.keep()
		case len(batch) == 1:
			return errs[i]
		case !refused(errs[i]) || t.cache.pending():
			return errAlone
		default:
			t.cache.rollback()
		}
	}
	return nil
}

// discard closes conn for good, so that a connection whose transaction could
// not be ended never goes back to the pool, and returns err.
func discard(conn *sql.Conn, err error) error {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	return err
}

// close waits for the batches in hand and the work they handed on; later
// sends are ErrUnavailable.
func (b *sendBatcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
	close(b.stop)
	<-b.done
}
