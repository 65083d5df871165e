package models

import (
	"context"
	"sync"
	"time"

	"gorm.io/gorm"
)

// roomWriter is PostgreSQL's group commit for the writes of a room other
// than sends (reactions, edits, deletes, moderation, pins…): the writes of
// one room waiting on a node share one transaction, so the room's row lock
// (which every write to the room takes, across nodes) is taken and held once
// per batch and not once per write. Held by one write after another, each
// waiting for a connection and a commit, that lock capped a busy room at a
// hundred or so writes a second.
//
// A room with writes waiting has a worker, gone once none wait; it takes
// every write waiting (up to maxRoomBatch), runs them in one transaction,
// each inside a savepoint so that a write refused by a rule rolls back alone,
// and answers each after COMMIT: a 200 still means committed. A batch holds
// one room, so it locks no more than a lone write did, and never waits in a
// circle with a batch of sends (see sendBatcher), whatever order that locks
// its rooms in. A write that fails otherwise, or a transaction that fails
// (a lost connection, a deadlock), rolls the batch back whole and every write
// in it runs again alone, so each gets the outcome it would have had by
// itself; a write's function must therefore set its results afresh each time
// it runs, as a send's must.
type roomWriter struct {
	db       *gorm.DB
	observer Observer
	mu       sync.Mutex
	// queues holds the writes waiting for each room; a room is a key
	// exactly while its worker runs.
	queues map[string][]*writeReq
	closed bool
	wg     sync.WaitGroup
}

// maxRoomBatch bounds a batch of one room's writes: PostgreSQL keeps the ids
// of 64 subtransactions (savepoints that wrote) per transaction in shared
// memory, and past that every snapshot taken meanwhile, on any connection,
// must look them up on disk.
const maxRoomBatch = 64

func newRoomWriter(db *gorm.DB) *roomWriter {
	return &roomWriter{db: db, observer: nopObserver{}, queues: map[string][]*writeReq{}}
}

// write queues fn for room and waits for its outcome. Once queued, a write
// runs even if ctx ends before its batch commits; one whose ctx has ended
// before its batch begins is skipped.
func (w *roomWriter) write(ctx context.Context, room string, fn func(t *txn) error) error {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrUnavailable
	}
	queued, running := w.queues[room]
	w.queues[room] = append(queued, req)
	if !running {
		w.wg.Add(1)
		go w.drain(room)
	}
	w.mu.Unlock()
	return <-req.done
}

// drain commits the room's queued writes, a batch at a time, until none wait.
func (w *roomWriter) drain(room string) {
	defer w.wg.Done()
	for {
		w.mu.Lock()
		batch := w.queues[room]
		switch {
		case len(batch) == 0:
			delete(w.queues, room)
			w.mu.Unlock()
			return
		case len(batch) > maxRoomBatch:
			w.queues[room] = batch[maxRoomBatch:]
			batch = batch[:maxRoomBatch]
		default:
			w.queues[room] = nil
		}
		w.mu.Unlock()
		w.commit(batch)
	}
}

// commit runs batch in one transaction, or each of its writes alone when the
// batch cannot commit as a whole, and answers every write.
func (w *roomWriter) commit(batch []*writeReq) {
	errs, err := w.try(batch)
	if err != nil && len(batch) > 1 {
		for i := range batch {
			w.commit(batch[i : i+1])
		}
		return
	}
	for i, req := range batch {
		if err != nil && errs[i] == nil {
			errs[i] = err
		}
		req.done <- errs[i]
	}
}

// try runs batch in one transaction. It returns each write's own error and
// the transaction's: errAlone when a write failed in a way that spoils the
// others.
func (w *roomWriter) try(batch []*writeReq) (errs []error, err error) {
	defer func(start time.Time) { w.observer.GroupCommit(time.Since(start), len(batch)) }(time.Now())
	errs = make([]error, len(batch))
	// The transaction is the batch's, not one client's (see sendBatcher.try).
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	err = w.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		t := &txn{db: tx, pg: true, work: &commitWork{}}
		// A write alone needs no savepoint: if it fails, the transaction
		// is rolled back instead. Savepoints are not released: each
		// RELEASE is a round trip, and COMMIT ends them all.
		savepoints := len(batch) > 1
		for i, req := range batch {
			if errs[i] = req.ctx.Err(); errs[i] != nil {
				continue
			}
			if savepoints {
				if err := tx.Exec("SAVEPOINT w").Error; err != nil {
					return err
				}
			}
			errs[i] = runSafely(t, req.fn)
			switch {
			case errs[i] == nil:
			case !savepoints:
				return errs[i]
			case !refused(storeErr(errs[i])):
				return errAlone
			default:
				if err := tx.Exec("ROLLBACK TO SAVEPOINT w").Error; err != nil {
					return err
				}
			}
		}
		return t.work.run(t)
	})
	return errs, err
}

// close waits for the batches in hand; later writes are ErrUnavailable.
func (w *roomWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.wg.Wait()
}
