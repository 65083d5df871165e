package broadcast

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Broadcaster = (*Redis)(nil)

// Defaults of the Redis fan-out.
const (
	// DefaultChannelPrefix starts every room's channel name. Pub/Sub
	// channels are global to a Redis server (database numbers do not
	// separate them), so two deployments sharing one Redis need two prefixes.
	DefaultChannelPrefix = "resonate-chat:room:"
	// DefaultCheckEvery is the periodic catch-up from the event log. Redis
	// Pub/Sub is at-most-once, so this bounds how late a lost message can
	// make an event: well inside the two seconds in which a ban must end
	// the user's streams on every node, even when Redis dropped the ban.
	// Each check is one read of every served room's head, whatever their
	// number, and a read of events for each room found behind.
	DefaultCheckEvery = time.Second
	// DefaultSubscribeWait is how long the first stream of a room on this
	// node waits for Redis to confirm the room's channel before reading the
	// room's head; a later confirmation triggers a catch-up instead.
	DefaultSubscribeWait = time.Second
	// publishQueue holds events on their way to Redis, so a slow or absent
	// Redis never holds up a request: about a second of a very busy node.
	// Past it events are not sent to Redis; other nodes read them from the
	// log at their next check.
	publishQueue = 4096
	// publishBatch bounds one pipeline of PUBLISH commands.
	publishBatch = 128
	// publishTimeout bounds one pipeline, so a hung Redis costs a batch,
	// not the queue.
	publishTimeout = 2 * time.Second
	// pingAfter is the silence after which the subscription is pinged, and
	// deadAfter the silence after which its connection is given up and
	// replaced: a paused or black-holed Redis never closes the socket.
	pingAfter = 2 * time.Second
	deadAfter = 5 * time.Second
	// lingerChecks is how many checks a room's channel outlives its last
	// local stream: a browser reconnects after its retry delay (2 s), and
	// then finds the channel still subscribed.
	lingerChecks = 5
	// resubSettle gathers the confirmations of one resubscription (they
	// arrive in a burst) into one catch-up.
	resubSettle = 20 * time.Millisecond
	// Receive errors back off from minBackoff to maxBackoff while Redis is
	// unreachable.
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// RedisOptions tune the fan-out; zero values take the defaults.
type RedisOptions struct {
	ChannelPrefix string
	CheckEvery    time.Duration
	SubscribeWait time.Duration
}

// Redis fans events out between nodes through Redis Pub/Sub, over the
// in-process hub that orders them. It treats Redis as a fast hint and the
// event log as the truth: a published event goes to local streams at once and
// to Redis on the side; what arrives from Redis goes through Memory, which
// drops duplicates, reorders, and fills a gap from the log. Redis loses what
// is published while a subscription is down and go-redis resubscribes
// silently, so every resubscription, and a periodic check, catch every room up
// from the log.
//
// Each room has its own channel, subscribed while the room has streams on
// this node: a node receives the rooms it serves and no others, and Redis does
// the filtering. (A pattern or one shared channel would send every node every
// room's traffic.)
type Redis struct {
	mem    *Memory
	client *redis.Client
	log    *slog.Logger
	opts   RedisOptions

	out    chan *Event // to the publisher
	wake   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	// heard is when the subscription last received anything, or last
	// failed (go-redis is then reconnecting by itself); pinged is when the
	// check last pinged it. Unix nanoseconds.
	heard, pinged atomic.Int64
	// dropping is set while the publish queue overflows, so that is logged
	// once, not per event.
	dropping atomic.Bool

	mu         sync.Mutex // guards everything below
	ps         *redis.PubSub
	rooms      map[string]*roomChannel
	ops        []channelOp // for the control loop, in order
	lost       bool        // the subscription broke since its last confirmation
	subDown    bool
	pubDown    bool
	catchTimer *time.Timer
	closed     bool
}

// roomChannel is this node's subscription to one room's channel.
type roomChannel struct {
	refs      int           // local subscriptions
	idle      int           // checks passed with no local subscription
	ready     chan struct{} // closed when Redis confirms the subscription
	confirmed bool
	late      bool // a stream stopped waiting for the confirmation
}

// channelOp is a SUBSCRIBE (sub) or UNSUBSCRIBE of one channel. One loop
// sends them all, so they reach Redis in the order they were decided.
type channelOp struct {
	channel string
	sub     bool
}

// DialRedis connects to the Redis at url (redis:// or rediss://) and returns
// the fan-out over mem. An unreachable Redis is logged, not an error: nodes
// then see each other's events through the periodic check until it is back.
func DialRedis(url string, mem *Memory, log *slog.Logger, opts RedisOptions) (*Redis, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	r := NewRedis(redis.NewClient(o), mem, log, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.client.Ping(ctx).Err(); err != nil {
		log.Warn("redis is unreachable; nodes exchange events through the event log until it is back", "err", err)
		r.mu.Lock()
		r.subDown = true // streams need not wait for confirmations
		r.mu.Unlock()
	}
	return r, nil
}

// NewRedis returns the fan-out through client over mem, and starts it. It owns
// client and mem: Close closes both.
func NewRedis(client *redis.Client, mem *Memory, log *slog.Logger, opts RedisOptions) *Redis {
	if opts.ChannelPrefix == "" {
		opts.ChannelPrefix = DefaultChannelPrefix
	}
	if opts.CheckEvery <= 0 {
		opts.CheckEvery = DefaultCheckEvery
	}
	if opts.SubscribeWait <= 0 {
		opts.SubscribeWait = DefaultSubscribeWait
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Redis{mem: mem, client: client, log: log, opts: opts, out: make(chan *Event, publishQueue),
		wake: make(chan struct{}, 1), cancel: cancel, rooms: map[string]*roomChannel{}}
	r.ps = client.Subscribe(ctx)
	r.heard.Store(time.Now().UnixNano())
	r.wg.Add(5)
	go r.receive(ctx)
	go r.control(ctx)
	go r.publisher(ctx)
	go r.check(ctx)
	go r.watchdog(ctx)
	return r
}

func (r *Redis) channel(room string) string { return r.opts.ChannelPrefix + room }

// Publish implements Broadcaster: local streams get ev at once, other nodes
// through Redis. It never waits for Redis; an event that cannot be queued is
// read from the log by the other nodes.
func (r *Redis) Publish(ctx context.Context, ev *Event) error {
	err := r.mem.Publish(ctx, ev)
	select {
	case r.out <- ev:
	default:
		if r.dropping.CompareAndSwap(false, true) {
			r.log.Warn("redis publish queue full; other nodes read events from the log until it drains", "room", ev.Room, "seq", ev.Seq)
		}
	}
	return err
}

// Subscribe implements Broadcaster. The room's channel is subscribed before
// Memory reads the room's head, so an event committed after that head reaches
// this node through Redis, or else through a catch-up.
func (r *Redis) Subscribe(ctx context.Context, room string) (*Subscription, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	c := r.rooms[room]
	if c == nil {
		c = &roomChannel{ready: make(chan struct{})}
		r.rooms[room] = c
		r.queue(channelOp{channel: r.channel(room), sub: true})
	}
	c.refs++
	c.idle = 0
	down := r.subDown
	r.mu.Unlock()

	if !down {
		t := time.NewTimer(r.opts.SubscribeWait)
		select {
		case <-c.ready:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	r.mu.Lock()
	select {
	case <-c.ready:
	default:
		c.late = true
	}
	r.mu.Unlock()

	sub, err := r.mem.Subscribe(ctx, room)
	if err != nil {
		r.release(room)
		return nil, err
	}
	go func() {
		<-sub.Done()
		r.release(room)
	}()
	return sub, nil
}

// release drops one local subscription of room; the check unsubscribes the
// channel once it has been unused for a while.
func (r *Redis) release(room string) {
	r.mu.Lock()
	if c := r.rooms[room]; c != nil && c.refs > 0 {
		c.refs--
	}
	r.mu.Unlock()
}

// queue hands op to the control loop. r.mu is held.
func (r *Redis) queue(op channelOp) {
	r.ops = append(r.ops, op)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Close implements Broadcaster: it stops the loops, sends what is queued for
// Redis (briefly), ends every subscription and closes the client.
func (r *Redis) Close() error {
	r.once.Do(func() {
		r.mu.Lock()
		r.closed = true
		ps := r.ps
		if r.catchTimer != nil {
			r.catchTimer.Stop()
		}
		r.mu.Unlock()
		r.cancel()
		_ = ps.Close()
		r.wg.Wait()
		r.mem.Close()
		_ = r.client.Close()
	})
	return nil
}

// RedisLogger sends go-redis's own log lines (each failed dial, for one) to
// log at debug level: the fan-out logs when Redis goes and comes back. Install
// it once, before any client exists, with redis.SetLogger.
type RedisLogger struct{ Log *slog.Logger }

// Printf implements go-redis's logging interface.
func (l RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.Log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
