package models

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Options are the chat rules that configuration may change.
type Options struct {
	// HistoryLimit is how many messages a room keeps.
	HistoryLimit int
	// MaxMessageLength is the content limit in code points.
	MaxMessageLength int
	// SendRate is the per-user, per-room flood limit.
	SendRate Rate
	// ReactionRate is the per-user, per-room flood limit of reaction
	// changes, apart from SendRate.
	ReactionRate Rate
	// Observer hears how long sends take; nil for none.
	Observer Observer
	// Notify, when set, makes the use cases write webhook notifications
	// to the outbox, encoded with it; nil writes none (no webhook).
	Notify NotificationEncoder
	// Outboxed, when set, is called after a transaction that wrote
	// notifications has committed: it wakes the webhook sender.
	Outboxed func()
}

// Chat holds the use cases. Each one loads what it needs, checks the rules and
// writes in one transaction, and hands its events to the Notifier after commit.
type Chat struct {
	store     *Store
	encode    Encoder
	notify    Notifier
	opts      Options
	reactions reactionFlusher
}

// NewChat returns the use cases over store, and starts their background
// work (the reaction flusher), which the store's Close stops.
func NewChat(store *Store, encode Encoder, notify Notifier, opts Options) *Chat {
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	c := &Chat{store: store, encode: encode, notify: notify, opts: opts, reactions: newReactionFlusher()}
	store.background(c.flushReactions)
	return c
}

// write runs fn in a write transaction on the open room roomID, locked, with
// actor's standing in it, and notifies the events fn emitted once the
// transaction has committed.
func (c *Chat) write(ctx context.Context, actor Actor, roomID string, fn func(t *txEvents, s *standing) error) error {
	return c.writeWith(ctx, c.roomWrite(roomID), actor, roomID, fn)
}

// roomWrite is the store's write for the writes of room roomID.
func (c *Chat) roomWrite(roomID string) func(context.Context, func(*txn) error) error {
	return func(ctx context.Context, fn func(*txn) error) error { return c.store.writeRoom(ctx, roomID, fn) }
}

// send is write for Send, which alone is handed a send cache.
func (c *Chat) send(ctx context.Context, actor Actor, key sendKey, fn func(t *txEvents, s *standing) error) error {
	write := func(ctx context.Context, fn func(*txn) error) error { return c.store.writeSend(ctx, key, fn) }
	return c.writeWith(ctx, write, actor, key.room, fn)
}

func (c *Chat) writeWith(ctx context.Context, write func(context.Context, func(*txn) error) error, actor Actor, roomID string,
	fn func(t *txEvents, s *standing) error) error {
	return c.writeEvents(ctx, write, roomID, func(t *txEvents) error {
		room, err := t.lockRoom(roomID)
		if err != nil {
			return roomErr(err)
		}
		s, err := loadStanding(t.txn, room, actor)
		if err != nil {
			return err
		}
		return fn(t, s)
	})
}

// writeEvents runs fn in a transaction opened by write, collecting the
// events fn emits in roomID, and notifies them once it has committed.
func (c *Chat) writeEvents(ctx context.Context, write func(context.Context, func(*txn) error) error, roomID string,
	fn func(t *txEvents) error) error {
	var evs []*Event
	var outboxed bool
	err := write(ctx, func(tx *txn) error {
		t := &txEvents{txn: tx, chat: c, roomID: roomID}
		if err := fn(t); err != nil {
			return err
		}
		evs, outboxed = t.evs, t.outboxed
		return nil
	})
	if err == nil && len(evs) > 0 {
		c.notify.Notify(context.WithoutCancel(ctx), evs)
	}
	if err == nil && outboxed && c.opts.Outboxed != nil {
		c.opts.Outboxed()
	}
	return err
}

// read runs fn in a read snapshot with the open room roomID loaded.
func (c *Chat) read(ctx context.Context, roomID string, fn func(tx *gorm.DB, room *Room) error) error {
	return c.store.read(ctx, func(tx *gorm.DB) error {
		var room Room
		if err := tx.Where("id = ? AND closed_at IS NULL", roomID).Take(&room).Error; err != nil {
			return roomErr(err)
		}
		return fn(tx, &room)
	})
}

// member is read plus the standing of actor, who must be a participant or an
// admin.
func (c *Chat) member(ctx context.Context, actor Actor, roomID string, fn func(tx *gorm.DB, s *standing) error) error {
	return c.read(ctx, roomID, func(tx *gorm.DB, room *Room) error {
		s, err := loadStanding(&txn{db: tx}, room, actor)
		if err != nil {
			return err
		}
		if err := s.requireMember(); err != nil {
			return err
		}
		return fn(tx, s)
	})
}

func roomErr(err error) error {
	if storeErr(err) == ErrNotFound {
		return WithDetail(ErrNotFound, "no such room")
	}
	return err
}

var roomIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidRoomID reports whether id is a well-formed room id.
func ValidRoomID(id string) bool { return roomIDPattern.MatchString(id) }

// ValidUserID checks a user id: 1–128 code points of printable UTF-8.
func ValidUserID(id string) error {
	if n := utf8.RuneCountInString(id); n < 1 || n > 128 || !utf8.ValidString(id) {
		return Invalidf("user id must be 1–128 characters of UTF-8")
	}
	for _, r := range id {
		if isForbiddenControl(r) || r == '\n' || r == '\t' {
			return Invalidf("user id has a control character")
		}
	}
	return nil
}

// maxNameLength bounds room and display names, in code points.
const maxNameLength = 100

// cleanName trims a room or display name and checks it is printable and short.
func cleanName(field, s string, required bool) (string, error) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	if s == "" {
		if required {
			return "", Invalidf("%s is required", field)
		}
		return "", nil
	}
	if n := utf8.RuneCountInString(s); n > maxNameLength {
		return "", Invalidf("%s is %d characters; the limit is %d", field, n, maxNameLength)
	}
	for _, r := range s {
		if isForbiddenControl(r) || r == '\n' || r == '\t' {
			return "", Invalidf("%s has a control character", field)
		}
	}
	return s, nil
}

// newID returns a random opaque id: 26 lower-case base32 characters (128 bits).
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
