package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// roomState is one room of the run and who is in it.
type roomState struct {
	id         string
	ownerToken string
	subs       []*subscriber
	pubs       []*publisher
	// With -react: the messages reacted to (seq → index) and who reacts.
	targets     []reactTarget
	targetIndex map[int64]int
	reactors    []*reactor
}

// generator is one run.
type generator struct {
	o *options
	// c is the first node's client: it signs tokens and creates the rooms,
	// and its transport and error counts are every node's.
	c            *client
	nodes        []*node
	streamNodes  []*node
	publishNodes []*node
	fileLimit    uint64
	runID        string
	rooms        []*roomState
	subs         []*subscriber
	pubs         []*publisher
	reactors     []*reactor
}

func (g *generator) user(kind string, i int) string {
	return "load-" + g.runID + "-" + kind + strconv.Itoa(i)
}

// setup creates the rooms and joins every stream user and publisher.
func (g *generator) setup(ctx context.Context, ttl time.Duration) error {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	g.runID = hex.EncodeToString(b)
	for r := range g.o.rooms {
		tok, err := g.c.token(g.user("o", r), ttl)
		if err != nil {
			return err
		}
		g.rooms = append(g.rooms, &roomState{id: "load-" + g.runID + "-" + strconv.Itoa(r), ownerToken: tok})
	}
	if err := parallel(ctx, len(g.rooms), g.o.workers, func(i int) error {
		return g.c.createRoom(ctx, g.rooms[i].ownerToken, g.rooms[i].id)
	}); err != nil {
		return fmt.Errorf("creating rooms: %w", err)
	}
	for i := range g.o.streams {
		rm := g.rooms[i%len(g.rooms)]
		tok, err := g.c.token(g.user("s", i), ttl)
		if err != nil {
			return err
		}
		s := &subscriber{id: i, room: rm, node: g.spread(g.streamNodes, i), user: g.user("s", i), token: tok, done: make(chan struct{})}
		rm.subs, g.subs = append(rm.subs, s), append(g.subs, s)
	}
	switch {
	case g.o.react > 0:
		for j := range g.o.react * g.o.rooms {
			rm := g.rooms[j%len(g.rooms)]
			tok, err := g.c.token(g.user("r", j), ttl)
			if err != nil {
				return err
			}
			r := &reactor{id: j, room: rm, node: g.spread(g.publishNodes, j), user: g.user("r", j), token: tok}
			rm.reactors, g.reactors = append(rm.reactors, r), append(g.reactors, r)
		}
	case !g.o.idle:
		for j := range g.o.publishers {
			rm := g.rooms[j%len(g.rooms)]
			tok, err := g.c.token(g.user("p", j), ttl)
			if err != nil {
				return err
			}
			p := &publisher{id: j, room: rm, node: g.publisherNode(j), user: g.user("p", j), token: tok}
			rm.pubs, g.pubs = append(rm.pubs, p), append(g.pubs, p)
		}
	}
	start := time.Now()
	nUsers := len(g.subs) + len(g.pubs) + len(g.reactors)
	err := parallel(ctx, nUsers, g.o.workers, func(i int) error {
		switch {
		case i < len(g.subs):
			s := g.subs[i]
			return s.node.c.join(ctx, s.token, s.room.id)
		case i < len(g.subs)+len(g.pubs):
			p := g.pubs[i-len(g.subs)]
			return p.node.c.join(ctx, p.token, p.room.id)
		}
		r := g.reactors[i-len(g.subs)-len(g.pubs)]
		return r.node.c.join(ctx, r.token, r.room.id)
	})
	if err != nil {
		return fmt.Errorf("joining: %w", err)
	}
	fmt.Fprintf(os.Stderr, "load: %d rooms, %d users joined in %s\n", len(g.rooms), nUsers, time.Since(start).Round(time.Millisecond))
	if g.o.react > 0 {
		if err := g.postTargets(ctx); err != nil {
			return fmt.Errorf("posting the messages to react to: %w", err)
		}
	}
	return nil
}

// openStreams opens every stream as a client joining a room does: history
// head, ticket, then the stream with Last-Event-ID = head_seq, -burst at a
// time. Streams that cannot open are counted by cause, not fatal: how many of
// a crowd connect is the finding.
func (g *generator) openStreams(ctx, streamCtx context.Context, rec *recorder) (open int, took time.Duration, failures *statusCounter) {
	var mu sync.Mutex
	failed := 0
	failures = newStatusCounter()
	start := time.Now()
	_ = parallel(ctx, len(g.subs), g.o.burst, func(i int) error {
		s := g.subs[i]
		err := g.openOne(ctx, streamCtx, s, rec)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			s.failed.Store(true)
			close(s.done)
			if failed++; failed == 1 {
				fmt.Fprintln(os.Stderr, "load: first stream that failed to open:", err)
			}
			failures.add(err)
			return nil
		}
		if open++; open%2000 == 0 {
			fmt.Fprintf(os.Stderr, "load: %d streams open\n", open)
		}
		return nil
	})
	took = time.Since(start)
	fmt.Fprintf(os.Stderr, "load: %d of %d streams open in %s, %d at a time\n", open, len(g.subs), took.Round(time.Millisecond), g.o.burst)
	return open, took, failures
}

func (g *generator) openOne(ctx, streamCtx context.Context, s *subscriber, rec *recorder) error {
	c := s.node.c
	head, err := c.head(ctx, s.token, s.room.id)
	if err != nil {
		return err
	}
	t, err := c.ticket(ctx, s.token, s.room.id)
	if err != nil {
		return err
	}
	s.base = head
	s.last.Store(head)
	s.final, s.totals = make([]string, len(s.room.targets)), make([]atomic.Int64, len(s.room.targets))
	body, err := c.openStream(streamCtx, t, s.room.id, head)
	if err != nil {
		return err
	}
	s.opened = true
	go s.run(streamCtx, c, body, rec)
	return nil
}

// parallel runs fn(0…n-1) on workers goroutines and returns the first error;
// after an error no new call starts.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		next  int
		first error
	)
	for range min(workers, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= n || ctx.Err() != nil
				mu.Unlock()
				if stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
