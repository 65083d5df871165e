package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/resonate/resonate-chat/tests/internal/spawn"
)

// run sets up, opens the streams, measures RSS, runs the steps (or holds idle
// streams), lets streams catch up, and checks every delivery.
func (g *generator) run(ctx context.Context) ([]*result, error) {
	o := g.o
	nSteps := len(o.rates)
	if o.idle {
		nSteps = 1
	}
	ttl := time.Duration(nSteps)*(o.duration+o.grace) + time.Hour
	if err := g.setup(ctx, ttl); err != nil {
		return nil, err
	}
	rec := newRecorder(nSteps)
	streamCtx, endStreams := context.WithCancel(context.Background())
	defer endStreams()

	nodes := g.beforeStreams()
	open, took, failures := g.openStreams(ctx, streamCtx, rec)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// Setup's keep-alive connections would count as streams in RSS and in
	// descriptors; publishers open their own.
	g.c.hc.Transport.(*http.Transport).CloseIdleConnections()
	sleep(ctx, o.settle)
	g.withStreams(nodes)

	base := result{Label: o.label, Time: time.Now().UTC(), Command: "go run ./tests/load " + strings.Join(os.Args[1:], " "),
		Rooms: o.rooms, Streams: o.streams, StreamsOK: open, Publishers: len(g.pubs), Size: o.size, Idle: o.idle,
		Burst: o.burst, ConnectS: round(took.Seconds(), 3), GeneratorFDs: openFiles(os.Getpid()), FileLimit: g.fileLimit,
		Spawned: g.nodes[0].srv != nil}
	base.ConnectErrors = failures.merged()
	g.addUp(&base, nodes)
	fmt.Fprintf(os.Stderr, "load: stream nodes' RSS %d KiB before streams, %d KiB with %d streams (%.1f KiB each); %d server descriptors\n",
		base.RSSBeforeKiB, base.RSSStreamsKiB, open, base.RSSPerStreamKiB, base.ServerFDs)
	if o.heapProfile != "" {
		// The text form ends with runtime.MemStats: StackInuse shows what
		// the streams' goroutine stacks cost, which the heap profile omits.
		for _, q := range [][2]string{{"/debug/pprof/heap?gc=1", ""}, {"/debug/pprof/heap?debug=1", ".txt"},
			{"/debug/pprof/goroutine?debug=1", ".goroutines.txt"}} {
			if err := g.fetchProfiles(ctx, q[0], o.heapProfile, q[1]); err != nil {
				fmt.Fprintln(os.Stderr, "load: heap profile:", err)
			}
		}
	}

	var steps []*step
	if o.idle {
		fmt.Fprintf(os.Stderr, "load: holding %d idle streams for %s\n", open, o.duration)
		cpu := g.serverCPU()
		sleep(ctx, o.duration)
		steps = []*step{{elapsed: o.duration, cpuServer: g.cpuSince(cpu), loadAvg: loadAvg()}}
	} else {
		var profDone chan error
		if o.cpuProfile != "" {
			secs := int(math.Ceil((time.Duration(len(o.rates)) * o.duration).Seconds()))
			profDone = make(chan error, 1)
			go func() {
				profDone <- g.fetchProfiles(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), o.cpuProfile, "")
			}()
		}
		if o.selfProfile != "" {
			if f, err := os.Create(o.selfProfile); err != nil {
				fmt.Fprintln(os.Stderr, "load: self profile:", err)
			} else if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, "load: self profile:", err)
			} else {
				defer f.Close()
				defer pprof.StopCPUProfile()
			}
		}
		for i, rate := range o.rates {
			st := g.runStep(ctx, rec, i, rate)
			steps = append(steps, st)
			if ctx.Err() != nil {
				break
			}
			if late := g.catchUp(o.grace); late > 0 {
				fmt.Fprintf(os.Stderr, "load: %d streams still behind after %s\n", late, o.grace)
			}
		}
		if profDone != nil {
			if err := <-profDone; err != nil {
				fmt.Fprintln(os.Stderr, "load: cpu profile:", err)
			} else {
				fmt.Fprintln(os.Stderr, "load: server CPU profile saved to", o.cpuProfile+spawn.NodeSuffix(0, len(g.nodes)), "…")
			}
		}
	}
	g.atEnd(nodes)
	endStreams()
	if !g.waitReaders(10 * time.Second) {
		return nil, fmt.Errorf("stream readers did not stop within 10 s")
	}
	g.addUp(&base, nodes)
	var rs *reactStats
	if o.react > 0 {
		rs = g.reactionResults(ctx, len(steps))
	}
	base.HTTPErrors, base.TransportErrors = g.c.errs.snapshot()
	return g.results(&base, steps, rec, rs), nil
}

// runStep posts at one target rate for the duration, printing progress.
func (g *generator) runStep(ctx context.Context, rec *recorder, index int, rate float64) *step {
	st := &step{index: index, rate: rate, start: time.Now().Add(20 * time.Millisecond)}
	st.end = st.start.Add(g.o.duration)
	// A send in flight at the end may finish; one stuck longer is abandoned.
	pctx, cancel := context.WithDeadline(ctx, st.end.Add(30*time.Second))
	defer cancel()
	cpuS, cpuG := g.serverCPU(), cpuSeconds(os.Getpid())
	rec.step.Store(int64(index))
	var wg sync.WaitGroup
	for _, p := range g.pubs {
		wg.Go(func() { p.run(pctx, p.node.c, st, len(g.pubs), g.o.size, rec) })
	}
	for _, r := range g.reactors {
		wg.Go(func() { r.run(pctx, st, len(g.reactors), g.o.emoji, rec) })
	}
	if n := min(g.o.stalls, len(g.subs)); n > 0 {
		go func() {
			sleep(pctx, time.Until(st.start.Add(g.o.duration/2)))
			until := time.Now().Add(g.o.stallFor).UnixNano()
			for _, s := range g.subs[:n] {
				s.stallUntil.Store(until)
			}
			fmt.Fprintf(os.Stderr, "load: %d streams stop reading for %s\n", n, g.o.stallFor)
		}()
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "load: step %d (%s): %.0f s, sent %d, accepted %d, deliveries %d\n", index, rateLabel(rate),
					time.Since(st.start).Seconds(), st.sent.Load(), st.accepted.Load(), rec.delivery[index].summary().Count)
			}
		}
	}()
	wg.Wait()
	close(stop)
	st.elapsed = time.Since(st.start)
	st.cpuServer = g.cpuSince(cpuS)
	st.cpuGen = cpuSeconds(os.Getpid()) - cpuG
	st.loadAvg = loadAvg()
	return st
}

func rateLabel(r float64) string {
	if r == 0 {
		return "flat out"
	}
	return fmt.Sprintf("%.0f/s", r)
}

// catchUp waits until every open stream has received its room's newest
// acknowledged seq (and, with -react, a tally of each message at least as
// large as the largest accepted answer), or until grace has passed; it
// returns how many are behind.
func (g *generator) catchUp(grace time.Duration) int {
	deadline := time.Now().Add(grace)
	for {
		behind := g.reactionsBehind()
		for _, rm := range g.rooms {
			var target int64
			for _, p := range rm.pubs {
				if n := len(p.acks); n > 0 {
					target = max(target, p.acks[n-1].seq)
				}
			}
			for _, s := range rm.subs {
				if s.opened && s.last.Load() < target {
					behind++
				}
			}
		}
		if behind == 0 || time.Now().After(deadline) {
			return behind
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *generator) waitReaders(timeout time.Duration) bool {
	deadline := time.After(timeout)
	for _, s := range g.subs {
		select {
		case <-s.done:
		case <-deadline:
			return false
		}
	}
	return true
}

// results checks every acknowledged message against every stream of its room
// and builds one result per step.
func (g *generator) results(base *result, steps []*step, rec *recorder, rs *reactStats) []*result {
	n := len(steps)
	lost, lostMsgs, expected := make([]int64, n), make([]int64, n), make([]int64, n)
	for _, rm := range g.rooms {
		for _, p := range rm.pubs {
			for _, a := range p.acks {
				missing := false
				for _, s := range rm.subs {
					if !s.opened || a.seq <= s.base {
						continue
					}
					expected[a.step]++
					if !s.seen.has(a.seq - s.base) {
						lost[a.step]++
						missing = true
					}
				}
				if missing {
					lostMsgs[a.step]++
				}
			}
		}
	}
	var dups, ooo, resets, reconnects int64
	for _, s := range g.subs {
		dups += s.dups.Load()
		ooo += s.outOfOrder.Load()
		resets += s.resets.Load()
		reconnects += s.reconnects.Load()
	}
	var out []*result
	for i, st := range steps {
		r := *base
		r.Step, r.TargetRate, r.DurationS = i, st.rate, round(st.elapsed.Seconds(), 3)
		r.Sent, r.Accepted, r.Late, r.LoadAvg = st.sent.Load(), st.accepted.Load(), st.late.Load(), st.loadAvg
		r.Nodes = withCPU(base.Nodes, st.cpuServer, st.elapsed.Seconds())
		if st.elapsed > 0 {
			r.AcceptedRate = round(float64(r.Accepted)/st.elapsed.Seconds(), 1)
			r.ServerCPU = round(sum(st.cpuServer)/st.elapsed.Seconds(), 2)
			r.GeneratorCPU = round(st.cpuGen/st.elapsed.Seconds(), 2)
		}
		ps, ds := rec.post[i].summary(), rec.delivery[i].summary()
		r.PostP50, r.PostP99, r.PostMax = round(ps.P50, 3), round(ps.P99, 3), round(ps.Max, 3)
		r.Deliveries, r.Expected = ds.Count, expected[i]
		r.DeliveryP50, r.DeliveryP90, r.DeliveryP99, r.DeliveryMax = round(ds.P50, 3), round(ds.P90, 3), round(ds.P99, 3), round(ds.Max, 3)
		r.Lost, r.LostMessages = lost[i], lostMsgs[i]
		r.Duplicated, r.OutOfOrder, r.HistoryResets, r.Reconnects = dups, ooo, resets, reconnects
		// The room events the step made and their deliveries: a message
		// each, or the reaction mode's message.reactions events.
		events, deliveries := r.Accepted, int64(ds.Count)
		if rs != nil {
			events, deliveries = rs.events[i], rs.deliveries[i]
			ts := rs.tally[i].summary()
			r.Reactors, r.ReactMessages = g.o.react, len(g.rooms[0].targets)
			r.ReactionEvents, r.ReactionDeliveries, r.TallyMeasured = events, deliveries, ts.Count
			r.TallyP50, r.TallyP90, r.TallyP99, r.TallyMax = round(ts.P50, 3), round(ts.P90, 3), round(ts.P99, 3), round(ts.Max, 3)
			r.TallyMissing, r.TallyMismatches = rs.missing[i], rs.mismatches
		}
		if secs := st.elapsed.Seconds(); secs > 0 {
			r.EventsPerS, r.DeliveriesPerS = round(float64(events)/secs, 1), round(float64(deliveries)/secs, 1)
			if base.StreamsOK > 0 {
				r.DeliveriesPerStreamPerS = round(float64(deliveries)/float64(base.StreamsOK)/secs, 2)
			}
			if cpu := sum(st.cpuServer); cpu > 0 {
				if r.Accepted > 0 {
					r.CPUPerAcceptedMs = round(cpu*1e3/float64(r.Accepted), 3)
				}
				if deliveries > 0 {
					r.CPUPerDeliveryUs = round(cpu*1e6/float64(deliveries), 2)
				}
			}
		}
		out = append(out, &r)
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
