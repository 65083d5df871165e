package models

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// pipeline holds the last statements of a PostgreSQL transaction, whose
// results nobody reads, to send them with COMMIT in one round trip (see
// txn.exec).
type pipeline struct{ batch pgx.Batch }

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
// rooms' rows locked (no other write to them commits until this batch does),
// then, read under those locks, every sender's standing and every client
// id's earlier message, which go into c for the sends. The rooms of sends
// passed over before are waited for, in the order of their ids; the others
// are locked only if no other transaction holds them (SKIP LOCKED), and a
// room missing from c.rooms is either held elsewhere or not open: its sends
// are passed over once, and then find which.
func begin(ctx context.Context, conn *sql.Conn, c *sendCache, batch []*writeReq) error {
	seen := map[standingKey]bool{}
	var waitRooms, tryRooms, userRooms, users, sentRooms, senders, clientIDs []string
	for _, req := range batch {
		if req.waited && !slices.Contains(waitRooms, req.key.room) {
			waitRooms = append(waitRooms, req.key.room)
		}
	}
	for _, req := range batch {
		k := req.key
		if !seen[standingKey{k.room, k.user}] {
			seen[standingKey{k.room, k.user}] = true
			userRooms, users = append(userRooms, k.room), append(users, k.user)
			if !slices.Contains(waitRooms, k.room) && !slices.Contains(tryRooms, k.room) {
				tryRooms = append(tryRooms, k.room)
			}
		}
		if k.clientID != nil {
			sentRooms, senders, clientIDs = append(sentRooms, k.room), append(senders, k.user), append(clientIDs, *k.clientID)
			c.sent[k.id()] = nil
		}
	}
	slices.Sort(waitRooms)
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("batch: a %T is not a pgx connection", dc)
		}
		var b pgx.Batch
		b.Queue("BEGIN")
		lock := func(q string, rooms []string) {
			if len(rooms) == 0 {
				return
			}
			b.Queue(q, rooms).Query(func(rows pgx.Rows) error {
				rs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByNameLax[Room])
				for _, r := range rs {
					c.rooms[r.ID] = r
				}
				return err
			})
		}
		lock("SELECT * FROM rooms WHERE id = ANY($1) AND closed_at IS NULL ORDER BY id FOR UPDATE", waitRooms)
		lock("SELECT * FROM rooms WHERE id = ANY($1) AND closed_at IS NULL FOR UPDATE SKIP LOCKED", tryRooms)
		b.Queue(standingSelect+"unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[])) AS k (room_id, user_id)"+standingJoins,
			userRooms, users).Query(func(rows pgx.Rows) error {
			rs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByNameLax[standingRow])
			for _, r := range rs {
				c.standing[standingKey{*r.KRoomID, *r.KUserID}] = r
			}
			return err
		})
		if len(senders) > 0 {
			b.Queue(`SELECT * FROM messages WHERE (room_id, sender_id, client_id) IN
 (SELECT * FROM unnest(CAST($1 AS TEXT[]), CAST($2 AS TEXT[]), CAST($3 AS TEXT[])))`,
				sentRooms, senders, clientIDs).Query(func(rows pgx.Rows) error {
				ms, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByNameLax[Message])
				for _, m := range ms {
					c.sent[sendKey{m.RoomID, m.SenderID, m.ClientID}.id()] = m
				}
				return err
			})
		}
		return pc.Conn().SendBatch(ctx, &b).Close()
	})
}
