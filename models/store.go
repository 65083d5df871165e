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
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

//go:embed migrations
var migrations embed.FS

// Store is the only code that touches gorm. It holds a writer and a reader
// handle: on SQLite they are separate pools of one file, on PostgreSQL the same.
type Store struct {
	w, r *gorm.DB
	pg   bool
	// group is the SQLite writer; nil on PostgreSQL.
	group *groupWriter
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

// Open opens the database named by dsn (a SQLite path, or a postgres:// URL),
// runs the migrations, and returns the store. sync is SQLite's synchronous
// setting ("normal" or "full").
func Open(ctx context.Context, dsn, sync string) (*Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return openPostgres(ctx, dsn)
	}
	return openSQLite(ctx, dsn, sync)
}

func gormConfig() *gorm.Config {
	return &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true, TranslateError: true, NowFunc: now}
}

func openSQLite(ctx context.Context, path, sync string) (*Store, error) {
	if sync == "" {
		sync = "normal"
	}
	base := "file:" + url.PathEscape(path) + "?" + sqliteParams + "&_synchronous=" + sync
	w, err := gorm.Open(sqlite.Open(base+"&_txlock=immediate"), gormConfig())
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
	r, err := gorm.Open(sqlite.Open(base+"&_query_only=true"), gormConfig())
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite reader %s: %w", path, err)
	}
	rdb, _ := r.DB()
	rdb.SetMaxOpenConns(readerConns)
	rdb.SetMaxIdleConns(readerConns)
	return &Store{w: w, r: r, group: newGroupWriter(w)}, nil
}

func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	db, err := gorm.Open(postgres.Open(dsn), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	sdb, _ := db.DB()
	// Nodes migrate one at a time under a PostgreSQL advisory lock.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, goose.DialectPostgres, sdb, locker); err != nil {
		sdb.Close()
		return nil, err
	}
	return &Store{w: db, r: db, pg: true}, nil
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
	if s.group != nil {
		s.group.close()
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

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sdb, err := s.r.DB()
	if err != nil {
		return err
	}
	return sdb.PingContext(ctx)
}

// write runs fn in a write transaction. On SQLite it joins the group commit of
// the single writer connection; on PostgreSQL the use case serialises per room
// by locking the room's row (see lockRoom).
func (s *Store) write(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if s.group != nil {
		return storeErr(s.group.write(ctx, fn))
	}
	return storeErr(s.w.WithContext(ctx).Transaction(fn))
}

// read runs fn in one read transaction, so that everything it reads is one
// consistent snapshot.
func (s *Store) read(ctx context.Context, fn func(tx *gorm.DB) error) error {
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
	case isDomain(err), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return ErrConflict
	}
	return &unavailable{cause: err}
}

// unavailable is a database failure: an ErrUnavailable for clients, with its
// cause kept for the log.
type unavailable struct{ cause error }

func (u *unavailable) Error() string        { return "database: " + u.cause.Error() }
func (u *unavailable) Is(target error) bool { return target == ErrUnavailable }
func (u *unavailable) Unwrap() error        { return u.cause }

func isDomain(err error) bool {
	for _, e := range []error{ErrUnauthorized, ErrNotParticipant, ErrForbidden, ErrBanned, ErrMuted,
		ErrChatLocked, ErrRateLimited, ErrNotFound, ErrConflict, ErrInvalid, ErrContentEmpty,
		ErrContentTooLong, ErrContentInvalid, ErrUnavailable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// now is the clock of record: UTC, to the microsecond PostgreSQL keeps, so a
// value reads back exactly as it was written on either database.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// lockRoom loads an open room and, on PostgreSQL, locks its row until the
// transaction ends, so every write to one room is serialised and checks made
// after it see every change committed before. On SQLite the IMMEDIATE
// transaction already holds the database's write lock.
func (s *Store) lockRoom(tx *gorm.DB, id string) (*Room, error) {
	var r Room
	q := tx.Where("id = ? AND closed_at IS NULL", id)
	if s.pg {
		q = q.Clauses(lockingClause)
	}
	if err := q.Take(&r).Error; err != nil {
		return nil, err
	}
	return &r, nil
}

var lockingClause = clause.Locking{Strength: "UPDATE"}
