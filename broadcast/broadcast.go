// Package broadcast owns the fan-out of room events to open streams: the
// Broadcaster interface, the in-process hub that orders each room's events by
// seq and hands them to subscribers, the Redis fan-out between nodes, and the
// SSE framing. It moves pre-encoded bytes and knows nothing of the chat rules.
package broadcast

import (
	"context"
	"errors"
)

// Event is one room event, encoded once as its SSE frame and shared read-only
// by every subscriber.
type Event struct {
	Room string
	Seq  int64
	Type string
	// EndsAll and EndsUser say which streams of the room the event ends once
	// written to them: every one, or EndsUser's (see EndsStreamOf). They are
	// decided where the event is made, once.
	EndsAll  bool
	EndsUser string
	Frame    []byte
}

// EndsStreamOf reports whether writing ev ends a stream of user; admin is
// whether user is a platform admin, whose streams only EndsAll ends (an admin
// may stream any room without being in it).
func (ev *Event) EndsStreamOf(user string, admin bool) bool {
	return ev.EndsAll || (ev.EndsUser != "" && ev.EndsUser == user && !admin)
}

// Source reads the rooms' event log; the broadcaster fills gaps from it.
type Source interface {
	// Head returns the room's newest seq.
	Head(ctx context.Context, room string) (int64, error)
	// Heads returns the newest seq of each of rooms in one read, however
	// many they are; a room that has been closed is missing from the map.
	Heads(ctx context.Context, rooms []string) (map[string]int64, error)
	// After returns up to limit events of room with seq > after, oldest first.
	After(ctx context.Context, room string, after int64, limit int) ([]*Event, error)
}

// Broadcaster delivers each room's events, in seq order, without gaps or
// duplicates, to every subscription of that room on this node.
type Broadcaster interface {
	// Publish hands over a committed event. Events may arrive out of order
	// or twice; subscribers see each once, in order.
	Publish(ctx context.Context, ev *Event) error
	// Subscribe starts a subscription to room. It delivers every event with
	// a seq above the room's head at the time Subscribe returns.
	Subscribe(ctx context.Context, room string) (*Subscription, error)
	// Close stops the broadcaster and ends every subscription.
	Close() error
}

// Reasons a subscription ends.
var (
	// ErrSlow means the subscriber fell too far behind and was dropped.
	ErrSlow = errors.New("subscriber too slow")
	// ErrClosed means the broadcaster shut down.
	ErrClosed = errors.New("broadcaster closed")
)
