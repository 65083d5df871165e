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

// begin opens a batch's transaction on conn in one round trip: BEGIN, the
// room's row locked (no other write to the room commits until this batch
// does), then, read under that lock, every sender's standing and every client
// id's earlier message, which go into c for the sends. A room that is not
// open is left for each send to find.
func begin(ctx context.Context, conn *sql.Conn, c *sendCache, room string, batch []*writeReq) error {
	seen := map[string]bool{}
	var users, senders, clientIDs []string
	for _, req := range batch {
		if !seen[req.key.user] {
			seen[req.key.user] = true
			users = append(users, req.key.user)
		}
		if req.key.clientID != nil {
			senders, clientIDs = append(senders, req.key.user), append(clientIDs, *req.key.clientID)
			c.sent[req.key.id()] = nil
		}
	}
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("batch: a %T is not a pgx connection", dc)
		}
		var b pgx.Batch
		b.Queue("BEGIN")
		b.Queue("SELECT * FROM rooms WHERE id = $1 AND closed_at IS NULL FOR UPDATE", room).Query(func(rows pgx.Rows) error {
			rs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByNameLax[Room])
			if len(rs) == 1 {
				c.rooms[room] = rs[0]
			}
			return err
		})
		b.Queue(standingSelect+"(SELECT CAST($1 AS TEXT) AS room_id, u AS user_id FROM unnest(CAST($2 AS TEXT[])) AS u) k"+standingJoins,
			room, users).Query(func(rows pgx.Rows) error {
			rs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByNameLax[standingRow])
			for _, r := range rs {
				c.standing[standingKey{room, *r.KUserID}] = r
			}
			return err
		})
		if len(senders) > 0 {
			b.Queue("SELECT * FROM messages WHERE room_id = $1 AND (sender_id, client_id) IN (SELECT * FROM unnest(CAST($2 AS TEXT[]), CAST($3 AS TEXT[])))",
				room, senders, clientIDs).Query(func(rows pgx.Rows) error {
				ms, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByNameLax[Message])
				for _, m := range ms {
					c.sent[sendKey{m.SenderID, m.ClientID}.id()] = m
				}
				return err
			})
		}
		return pc.Conn().SendBatch(ctx, &b).Close()
	})
}
