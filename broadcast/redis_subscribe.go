package broadcast

// The subscription side of the Redis fan-out: reading Redis into Memory,
// noticing resubscriptions, the periodic catch-up, the watchdog, and keeping
// the set of subscribed channels.

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// receive reads the subscription and feeds Memory. go-redis reconnects and
// resubscribes by itself after a failure; the confirmations that follow tell
// us so, and we catch up from the log.
func (r *Redis) receive(ctx context.Context) {
	defer r.wg.Done()
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		r.mu.Lock()
		ps := r.ps
		r.mu.Unlock()
		msg, err := ps.Receive(ctx)
		r.heard.Store(time.Now().UnixNano())
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !errors.Is(err, redis.ErrClosed) { // a closed one was replaced by the check
				r.subscriptionLost(err)
				sleep(ctx, backoff)
				backoff = min(max(2*backoff, minBackoff), maxBackoff)
			}
			continue
		}
		backoff = 0
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.confirmed(m.Channel)
			}
		case *redis.Message:
			r.deliver(ctx, m)
		}
	}
}

func (r *Redis) deliver(ctx context.Context, m *redis.Message) {
	ev, err := decodeWire([]byte(m.Payload))
	if err != nil || r.channel(ev.Room) != m.Channel {
		r.log.Warn("dropped a malformed message from redis", "channel", m.Channel, "bytes", len(m.Payload))
		return
	}
	_ = r.mem.Publish(ctx, ev)
}

// subscriptionLost notes that messages may have been lost: the next
// confirmation triggers a catch-up.
func (r *Redis) subscriptionLost(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lost = true
	if !r.subDown && !r.closed {
		r.subDown = true
		r.log.Warn("redis subscription lost; catching up from the event log until it is back", "err", err)
	}
}

// confirmed handles Redis confirming a channel: the first confirmation lets
// the room's streams start; any other (go-redis resubscribed after a lost
// connection), or one that came after the room's head was read, or after the
// subscription broke, means events may have been missed.
func (r *Redis) confirmed(channel string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.subDown {
		r.subDown = false
		r.log.Info("redis subscription is back")
	}
	c := r.rooms[strings.TrimPrefix(channel, r.opts.ChannelPrefix)]
	missed := r.lost
	if c != nil {
		if c.confirmed || c.late {
			missed = true
		}
		if !c.confirmed {
			c.confirmed = true
			close(c.ready)
		}
	}
	if !missed || r.closed {
		return
	}
	r.lost = false
	if r.catchTimer == nil {
		r.catchTimer = time.AfterFunc(resubSettle, r.mem.CatchUp)
	} else {
		r.catchTimer.Reset(resubSettle)
	}
}

// control sends SUBSCRIBE and UNSUBSCRIBE commands in the order they were
// decided, batching runs of one kind.
func (r *Redis) control(ctx context.Context) {
	defer r.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		r.mu.Lock()
		ops, ps := r.ops, r.ps
		r.ops = nil
		r.mu.Unlock()
		for len(ops) > 0 {
			n := 1
			for n < len(ops) && ops[n].sub == ops[0].sub {
				n++
			}
			names := make([]string, n)
			for i := range names {
				names[i] = ops[i].channel
			}
			// go-redis records the channels even when the command fails
			// and subscribes them when it reconnects.
			var err error
			if ops[0].sub {
				err = ps.Subscribe(ctx, names...)
			} else {
				err = ps.Unsubscribe(ctx, names...)
			}
			if err != nil && ctx.Err() == nil {
				r.log.Debug("redis subscription change failed; it applies when redis is back", "err", err)
			}
			ops = ops[n:]
		}
	}
}

// check runs the periodic catch-up from the log and unsubscribes channels no
// stream uses.
func (r *Redis) check(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.opts.CheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mem.CatchUp()
		r.collect()
	}
}

// watchdog keeps an eye on the subscription's connection, apart from check:
// a ping to an unreachable Redis may wait for a dial, and must not delay the
// catch-up that stands in for Redis meanwhile.
func (r *Redis) watchdog(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(pingAfter / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.watch(ctx)
	}
}

// watch pings a silent subscription and replaces one that stays silent: a
// paused or unplugged Redis may keep the socket open without answering.
func (r *Redis) watch(ctx context.Context) {
	now := time.Now()
	heard, pinged := time.Unix(0, r.heard.Load()), time.Unix(0, r.pinged.Load())
	r.mu.Lock()
	ps := r.ps
	r.mu.Unlock()
	switch {
	case now.Sub(heard) >= deadAfter && pinged.After(heard):
		r.renew(ctx, ps)
	case now.Sub(heard) >= pingAfter && !pinged.After(heard):
		r.pinged.Store(now.UnixNano())
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_ = ps.Ping(pctx) // the answer, or the failure, reaches receive
		cancel()
	}
}

// renew replaces a dead subscription with a new one on every channel, and
// marks it lost so its confirmations trigger a catch-up.
func (r *Redis) renew(ctx context.Context, old *redis.PubSub) {
	r.mu.Lock()
	if r.closed || r.ps != old {
		r.mu.Unlock()
		return
	}
	r.ps = r.client.Subscribe(ctx)
	r.lost = true
	r.heard.Store(time.Now().UnixNano())
	if !r.subDown {
		r.subDown = true
		r.log.Warn("redis subscription stopped answering; reconnecting")
	}
	for room := range r.rooms {
		r.queue(channelOp{channel: r.channel(room), sub: true})
	}
	r.mu.Unlock()
	_ = old.Close()
}

// collect unsubscribes the channels of rooms that have had no stream here for
// lingerChecks checks. A channel still waiting for its first confirmation
// stays until it has it, so that confirmation is never taken for a later one.
func (r *Redis) collect() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for room, c := range r.rooms {
		if c.refs > 0 {
			continue
		}
		if c.idle++; c.idle >= lingerChecks && c.confirmed {
			delete(r.rooms, room)
			r.queue(channelOp{channel: r.channel(room)})
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
