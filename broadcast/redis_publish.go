package broadcast

// The publishing side of the Redis fan-out: one loop sends queued events,
// many per round trip, and never holds up a request.

import "context"

// publisher sends queued events to Redis, many per round trip.
func (r *Redis) publisher(ctx context.Context) {
	defer r.wg.Done()
	batch := make([]*Event, 0, publishBatch)
	for {
		select {
		case ev := <-r.out:
			batch = append(batch, ev)
		case <-ctx.Done():
			r.flush(batch) // best effort: whatever is still queued
			return
		}
	fill:
		for len(batch) < publishBatch {
			select {
			case ev := <-r.out:
				batch = append(batch, ev)
			default:
				break fill
			}
		}
		r.send(ctx, batch)
		batch = batch[:0]
	}
}

// flush sends what is left in the queue at shutdown, unless Redis is known to
// be down: then it would only hold up the shutdown.
func (r *Redis) flush(batch []*Event) {
	for {
		select {
		case ev := <-r.out:
			batch = append(batch, ev)
			continue
		default:
		}
		break
	}
	r.mu.Lock()
	down := r.pubDown
	r.mu.Unlock()
	if len(batch) > 0 && !down {
		r.send(context.Background(), batch)
	}
}

// send publishes batch in one pipeline; a failure loses the batch for Redis
// (other nodes read it from the log) and is logged when it starts and ends.
func (r *Redis) send(ctx context.Context, batch []*Event) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	pipe := r.client.Pipeline()
	for _, ev := range batch {
		pipe.Publish(ctx, r.channel(ev.Room), encodeWire(ev))
	}
	_, err := pipe.Exec(ctx)
	if err == nil {
		r.dropping.Store(false)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil && !r.pubDown:
		r.pubDown = true
		r.log.Warn("redis publish failed; other nodes read events from the log until it is back", "err", err, "events", len(batch))
	case err == nil && r.pubDown:
		r.pubDown = false
		r.log.Info("redis publish is back")
	}
}
