package models

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// pipeline holds the last statements of a PostgreSQL transaction, whose
// results nobody reads, to send them with COMMIT in one round trip.
type pipeline struct{ batch pgx.Batch }

type pipelineKey struct{}

// withPipeline makes execSQL in tx queue its statements in p.
func withPipeline(tx *gorm.DB, p *pipeline) *gorm.DB {
	return tx.WithContext(context.WithValue(tx.Statement.Context, pipelineKey{}, p))
}

func pipelineOf(tx *gorm.DB) *pipeline {
	p, _ := tx.Statement.Context.Value(pipelineKey{}).(*pipeline)
	return p
}

// queue adds q, written with ? placeholders as for gorm, to the pipeline.
func (p *pipeline) queue(q string, args ...any) {
	p.batch.Queue(numbered(q), args...)
}

// commit sends the queued statements and COMMIT on conn, the connection of
// their transaction, and reads every result: the first failure is returned,
// and PostgreSQL has then ended the transaction in failure (a COMMIT after a
// failed statement rolls back).
func (p *pipeline) commit(ctx context.Context, conn *sql.Conn) error {
	p.batch.Queue("COMMIT")
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("pipeline: a %T is not a pgx connection", dc)
		}
		return c.Conn().SendBatch(ctx, &p.batch).Close()
	})
}

// numbered turns gorm's ? placeholders into PostgreSQL's $1, $2…; the
// statements given to it hold no ? of their own.
func numbered(q string) string {
	var b strings.Builder
	n := 0
	for _, part := range strings.SplitAfter(q, "?") {
		if strings.HasSuffix(part, "?") {
			n++
			fmt.Fprintf(&b, "%s$%d", part[:len(part)-1], n)
		} else {
			b.WriteString(part)
		}
	}
	return b.String()
}
