package models

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

//go:embed migrations
var migrations embed.FS

// Store owns the database: its handles, its transactions and the writers
// that run them (the SQLite writer, PostgreSQL's batches of sends and of each
// room's other writes), and every statement written as SQL, which are
// methods of the transaction (see txn and queries.go) or of the Store. The
// use cases run inside its transactions, handed a txn, and use gorm's
// builder only for plain reads and writes of their entities. It holds a writer and a reader handle: on SQLite
// they are separate pools of one file, on PostgreSQL the same (bounded by
// OpenOptions.MaxConns). On PostgreSQL a batch of sends also talks to pgx
// directly, for its pipelines (see sendBatcher, begin, pipeline).
type Store struct {
	w, r *gorm.DB
	pg   bool
	// group is the SQLite writer and checkpoints its WAL checkpointer; both
	// nil on PostgreSQL.
	group       *groupWriter
	checkpoints *checkpointer
	// sends batches sends per room on PostgreSQL, rooms the room's other
	// writes; both nil on SQLite.
	sends *sendBatcher
	rooms *roomWriter
	// health remembers how the last writes went, for /readyz.
	health writeHealth
	// observer is set once, before the store is used (see Observe).
	observer Observer
	// bg is the background work of the use cases (see background), which
	// Close stops through stop and waits for before it closes anything.
	bg       sync.WaitGroup
	stop     chan struct{}
	stopOnce sync.Once
}

// background runs work in a goroutine until stop is closed: Close closes it
// and waits for work to return before closing the database, so work never
// runs on a closed store.
func (s *Store) background(work func(stop <-chan struct{})) {
	s.bg.Go(func() { work(s.stop) })
}

// Observe makes o hear how long the store's transactions take. Call it before
// the store is used.
func (s *Store) Observe(o Observer) {
	s.observer = o
	if s.group != nil {
		s.group.observer = o
	}
	if s.sends != nil {
		s.sends.observer = o
		s.rooms.observer = o
	}
}

// writeFailWindow is how long a failed write keeps /readyz false unless a
// write succeeds first: long enough for a load balancer to notice, short
// enough that a node with no traffic (so no write to prove it healthy) is
// tried again soon after the fault is fixed.
const writeFailWindow = 10 * time.Second

// writeHealth holds the times (Unix nanoseconds) of the last failed and the
// last successful write. A read-only or full database answers pings and
// reads, so only writes tell.
type writeHealth struct{ failed, ok atomic.Int64 }

func (h *writeHealth) record(err error) {
	switch {
	case err == nil, refused(err):
		h.ok.Store(time.Now().UnixNano())
	case errors.Is(err, ErrUnavailable):
		h.failed.Store(time.Now().UnixNano())
	}
}

// failing reports whether the last write failed, within writeFailWindow.
func (h *writeHealth) failing() bool {
	f := h.failed.Load()
	return f > h.ok.Load() && time.Since(time.Unix(0, f)) < writeFailWindow
}

// sqliteWriteDSN and sqliteReadDSN are why SQLite copes with many writers:
//   - WAL lets readers go on while the one writer writes;
//   - the writer pool has a single connection, so writes queue in Go instead of
//     failing with "database is locked", and every write transaction begins
//     IMMEDIATE so a read-then-write never has to upgrade its lock;
//   - busy_timeout covers the rare case of another process (a backup, sqlite3
//     shell) holding the lock;
//   - synchronous=NORMAL in WAL mode survives a process crash with every
//     committed transaction; FULL (CHAT_SQLITE_SYNC=full) also survives power loss;
//   - foreign keys are off by default in SQLite and we rely on them.
const sqliteParams = "_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on"

// readerConns bounds the SQLite reader pool: two cores gain nothing from more.
const readerConns = 4

// OpenOptions tune the database handles; the zero value is the default.
type OpenOptions struct {
	// SQLiteSync is SQLite's synchronous setting, "normal" (the default) or
	// "full".
	SQLiteSync string
	// MaxConns bounds the connections to PostgreSQL; 0 is DefaultMaxConns.
	// SQLite's pools have sizes of their own (one writer, readerConns).
	MaxConns int
}

// DefaultMaxConns is the PostgreSQL pool's default bound per node: enough
// for a node's busy rooms to commit in parallel and its streams to open
// meanwhile, few enough that six nodes fit under PostgreSQL's default of 100
// connections with room for an operator's psql and the migrations.
const DefaultMaxConns = 16

// Open opens the database named by dsn (a SQLite path, or a postgres:// URL),
// runs the migrations, and returns the store.
func Open(ctx context.Context, dsn string, o OpenOptions) (*Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return openPostgres(ctx, dsn, o.MaxConns)
	}
	return openSQLite(ctx, dsn, o.SQLiteSync)
}

// gormConfig is shared by both databases. prepare caches prepared statements
// per connection: on SQLite, parsing a statement costs as much as running it,
// and every write goes through the one writer connection.
func gormConfig(prepare bool) *gorm.Config {
	return &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true, TranslateError: true, NowFunc: now,
		PrepareStmt: prepare}
}

func openSQLite(ctx context.Context, path, sync string) (*Store, error) {
	if sync == "" {
		sync = "normal"
	}
	base := "file:" + url.PathEscape(path) + "?" + sqliteParams + "&_synchronous=" + sync
	w, err := gorm.Open(sqlite.Open(base+"&_txlock=immediate"), gormConfig(true))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	wdb, _ := w.DB()
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxLifetime(0)
	if err := migrate(ctx, goose.DialectSQLite3, wdb, nil); err != nil {
		wdb.Close()
		return nil, err
	}
	r, err := gorm.Open(sqlite.Open(base+"&_query_only=true"), gormConfig(true))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite reader %s: %w", path, err)
	}
	rdb, _ := r.DB()
	rdb.SetMaxOpenConns(readerConns)
	rdb.SetMaxIdleConns(readerConns)
	group, err := newGroupWriter(wdb)
	if err != nil {
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("sqlite writer: %w", err)
	}
	ck, err := sql.Open("sqlite3", base)
	if err != nil {
		group.close()
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("sqlite checkpointer: %w", err)
	}
	ck.SetMaxOpenConns(1)
	return &Store{w: w, r: r, group: group, checkpoints: newCheckpointer(ck, &group.commits), observer: nopObserver{},
		stop: make(chan struct{})}, nil
}

func openPostgres(ctx context.Context, dsn string, maxConns int) (*Store, error) {
	db, err := gorm.Open(postgres.Open(dsn), gormConfig(false))
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	sdb, _ := db.DB()
	// A bounded pool: past the bound a request waits for a connection
	// instead of failing, and PostgreSQL never sees more than the bound from
	// a node. Idle connections are kept up to the bound, since opening one
	// costs a backend process and the statements pgx prepares on it.
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	sdb.SetMaxOpenConns(maxConns)
	sdb.SetMaxIdleConns(maxConns)
	sdb.SetConnMaxIdleTime(5 * time.Minute)
	// Nodes migrate one at a time under a PostgreSQL advisory lock.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, goose.DialectPostgres, sdb, locker); err != nil {
		sdb.Close()
		return nil, err
	}
	return &Store{w: db, r: db, pg: true, sends: newSendBatcher(db, sdb), rooms: newRoomWriter(db), observer: nopObserver{},
		stop: make(chan struct{})}, nil
}

func migrate(ctx context.Context, dialect goose.Dialect, db *sql.DB, locker lock.SessionLocker) error {
	dir := "migrations/sqlite"
	if dialect == goose.DialectPostgres {
		dir = "migrations/postgres"
	}
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if locker != nil {
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db, sub, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Close closes both handles.
func (s *Store) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.bg.Wait()
	if s.group != nil {
		s.group.close()
		s.checkpoints.close()
	}
	if s.sends != nil {
		s.rooms.close()
		s.sends.close()
	}
	var errs []error
	for _, db := range []*gorm.DB{s.w, s.r} {
		if sdb, err := db.DB(); err == nil {
			errs = append(errs, sdb.Close())
		}
		if s.w == s.r {
			break
		}
	}
	return errors.Join(errs...)
}

// Ping reports whether the database answers and takes writes: an error when
// it cannot be reached, or when the last write failed for the database's sake
// (read-only, full) within writeFailWindow and none has succeeded since.
func (s *Store) Ping(ctx context.Context) error {
	sdb, err := s.r.DB()
	if err != nil {
		return err
	}
	if err := sdb.PingContext(ctx); err != nil {
		return err
	}
	if s.health.failing() {
		return unavailable(errors.New("the last write failed"))
	}
	return nil
}

// SetMaxPages caps the SQLite database at n pages (PRAGMA max_page_count on
// the writer) and returns the cap in force, which is never below the current
// size; n ≤ 0 only reads it. Writes that need a page more fail as on a full
// disk. It is for fault-injection tests; on PostgreSQL it does nothing.
func (s *Store) SetMaxPages(ctx context.Context, n int64) (int64, error) {
	if s.group == nil {
		return 0, nil
	}
	var got int64
	q := "PRAGMA max_page_count"
	if n > 0 {
		q = fmt.Sprintf("PRAGMA max_page_count = %d", n)
	}
	err := s.group.write(ctx, false, func(t *txn) error { return t.db.Raw(q).Scan(&got).Error })
	return got, err
}

// PageCount is the SQLite database's size in pages (0 on PostgreSQL).
func (s *Store) PageCount(ctx context.Context) (int64, error) {
	var n int64
	if s.group == nil {
		return 0, nil
	}
	err := s.r.WithContext(ctx).Raw("PRAGMA page_count").Scan(&n).Error
	return n, err
}

// write runs fn in a write transaction, with no send cache. On SQLite it
// joins the group commit of the single writer connection; on PostgreSQL it is
// a transaction of its own, for the few writes that belong to no room (a
// room's go through writeRoom), and the use case serialises per room by
// locking the room's row (see txn.lockRoom).
func (s *Store) write(ctx context.Context, fn func(t *txn) error) error {
	return s.writeWith(ctx, func() error {
		if s.group != nil {
			return s.group.write(ctx, false, fn)
		}
		return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			t := &txn{db: tx, pg: true, work: &commitWork{}}
			if err := fn(t); err != nil {
				return err
			}
			return t.work.run(t)
		})
	})
}

// writeRoom is write for a write to room roomID: on PostgreSQL it joins the
// room's batch (see roomWriter), on SQLite the group commit.
func (s *Store) writeRoom(ctx context.Context, roomID string, fn func(t *txn) error) error {
	if s.rooms == nil {
		return s.write(ctx, fn)
	}
	return s.writeWith(ctx, func() error { return s.rooms.write(ctx, roomID, fn) })
}

// writeSend is write for a send, which is handed a send cache: on SQLite
// the writer's (see sendCache), on PostgreSQL its batch's (see sendBatcher).
func (s *Store) writeSend(ctx context.Context, key sendKey, fn func(t *txn) error) error {
	return s.writeWith(ctx, func() error {
		if s.group != nil {
			return s.group.write(ctx, true, fn)
		}
		return s.sends.write(ctx, key, fn)
	})
}

// writeWith times a write, turns its error into a domain error and notes it
// for /readyz.
func (s *Store) writeWith(ctx context.Context, write func() error) error {
	defer func(start time.Time) { s.observer.StoreDone("write", time.Since(start)) }(time.Now())
	err := storeErr(write())
	s.health.record(err)
	return err
}

// read runs fn in one read transaction, so that everything it reads is one
// consistent snapshot.
func (s *Store) read(ctx context.Context, fn func(tx *gorm.DB) error) error {
	defer func(start time.Time) { s.observer.StoreDone("read", time.Since(start)) }(time.Now())
	opts := &sql.TxOptions{ReadOnly: true}
	if s.pg {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return storeErr(s.r.WithContext(ctx).Transaction(fn, opts))
}

// storeErr turns driver failures into domain errors at the store's edge:
// not-found and duplicate keys are the caller's business, everything else that
// is not already a domain error means the database is unwell.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrNotFound
	case errors.As(err, new(*Error)), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return ErrConflict
	case unstorableText(err):
		return WithDetail(ErrInvalid, "a value holds characters the database cannot store")
	}
	return unavailable(err)
}

// unstorableText reports PostgreSQL refusing a string the client sent (a NUL,
// or bytes that are not UTF-8): the request's fault, not the database's. The
// use cases refuse such strings first; this is the net under them, so that a
// missed field is a 400 and never marks the database unwell.
func unstorableText(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "22021" || pg.Code == "22P05") // character_not_in_repertoire, untranslatable_character
}

// now is the clock of record: UTC, to the microsecond PostgreSQL keeps, so a
// value reads back exactly as it was written on either database.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
