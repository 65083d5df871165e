package main

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/resonate/resonate-chat/tests/internal/spawn"
)

// node is one server of the deployment under load.
type node struct {
	index int
	url   string
	c     *client       // requests to this node
	pid   int           // for RSS, CPU and descriptors; 0 when unknown
	srv   *spawn.Server // nil unless spawned: profiles and the log
}

// setNodes gives every node a client (one transport and one error count for
// all) and picks the nodes that carry streams and publishers.
func (g *generator) setNodes(secret string, nodes []*node) {
	g.c = newClient(nodes[0].url, []byte(secret))
	for i, n := range nodes {
		n.index, n.c = i, g.c.at(n.url)
	}
	g.nodes = nodes
	g.streamNodes, g.publishNodes = pick(nodes, g.o.streamNodes), pick(nodes, g.o.publishNodes)
}

// pick is the nodes at idx, or all of them when idx is empty.
func pick(nodes []*node, idx []int) []*node {
	if len(idx) == 0 {
		return nodes
	}
	var out []*node
	for _, i := range idx {
		out = append(out, nodes[i])
	}
	return out
}

// spread is the node of the i-th stream or publisher, the k-th of room r
// (users go to the rooms in turn): node (k+r) mod n. Users of one room go to
// the nodes in turn, so every room has users on every node it can, and rooms
// with a user each still spread over all the nodes.
func (g *generator) spread(nodes []*node, i int) *node {
	return nodes[(i/g.o.rooms+i%g.o.rooms)%len(nodes)]
}

// publisherNode is the node the j-th publisher posts to: spread over the
// -publish-nodes, or with -post-by-room the one node of its room (room r's
// is node r mod n).
func (g *generator) publisherNode(j int) *node {
	if g.o.postByRoom {
		return g.publishNodes[(j%g.o.rooms)%len(g.publishNodes)]
	}
	return g.spread(g.publishNodes, j)
}

func (n *node) rss(field string) int64 { return spawn.ProcStatus(n.pid, field) }

// serverCPU is each node's CPU seconds so far (-1 where unknown).
func (g *generator) serverCPU() []float64 {
	out := make([]float64, len(g.nodes))
	for i, n := range g.nodes {
		out[i] = cpuSeconds(n.pid)
	}
	return out
}

// cpuSince is each node's CPU seconds since before (0 where unknown).
func (g *generator) cpuSince(before []float64) []float64 {
	now := g.serverCPU()
	for i := range now {
		if before[i] < 0 || now[i] < 0 {
			now[i] = 0
		} else {
			now[i] -= before[i]
		}
	}
	return now
}

// sumOver adds one figure of the given nodes; -1 when one of them lacks it.
func sumOver(rs []nodeResult, nodes []*node, f func(*nodeResult) int64) int64 {
	var sum int64
	for _, n := range nodes {
		v := f(&rs[n.index])
		if v < 0 {
			return -1
		}
		sum += v
	}
	return sum
}

// addUp sets the figures of r that add up the nodes': memory and
// descriptors over the stream nodes, log counts over all.
func (g *generator) addUp(r *result, nodes []nodeResult) {
	stream := func(f func(*nodeResult) int64) int64 { return sumOver(nodes, g.streamNodes, f) }
	r.RSSBeforeKiB = stream(func(n *nodeResult) int64 { return n.RSSBeforeKiB })
	r.RSSStreamsKiB = stream(func(n *nodeResult) int64 { return n.RSSStreamsKiB })
	r.RSSEndKiB = stream(func(n *nodeResult) int64 { return n.RSSEndKiB })
	r.HWMKiB = stream(func(n *nodeResult) int64 { return n.HWMKiB })
	r.ServerFDs = stream(func(n *nodeResult) int64 { return n.FDs })
	if r.StreamsOK > 0 && r.RSSBeforeKiB >= 0 {
		r.RSSPerStreamKiB = round(float64(r.RSSStreamsKiB-r.RSSBeforeKiB)/float64(r.StreamsOK), 2)
		if r.Idle && r.RSSEndKiB >= 0 {
			r.RSSPerStreamEndKiB = round(float64(r.RSSEndKiB-r.RSSBeforeKiB)/float64(r.StreamsOK), 2)
		}
	}
	r.DBLocked = int(sumOver(nodes, g.nodes, func(n *nodeResult) int64 { return int64(n.DBLocked) }))
	r.LogErrors = int(sumOver(nodes, g.nodes, func(n *nodeResult) int64 { return int64(n.LogErrors) }))
	r.Nodes = nodes
}

// beforeStreams starts each node's figures: its publishers, its memory
// before any stream.
func (g *generator) beforeStreams() []nodeResult {
	rs := make([]nodeResult, len(g.nodes))
	for i, n := range g.nodes {
		rs[i] = nodeResult{URL: n.url, RSSBeforeKiB: n.rss("VmRSS"), DBLocked: -1, LogErrors: -1}
	}
	for _, p := range g.pubs {
		rs[p.node.index].Publishers++
	}
	return rs
}

// withStreams records each node's streams, memory and descriptors once the
// streams are open.
func (g *generator) withStreams(rs []nodeResult) {
	for i, n := range g.nodes {
		rs[i].RSSStreamsKiB, rs[i].FDs = n.rss("VmRSS"), int64(openFiles(n.pid))
	}
	for _, s := range g.subs {
		if s.opened {
			rs[s.node.index].Streams++
		}
	}
}

// atEnd records each node's memory at the end of the run and counts, in a
// spawned node's log, what must not happen.
func (g *generator) atEnd(rs []nodeResult) {
	for i, n := range g.nodes {
		rs[i].RSSEndKiB, rs[i].HWMKiB = n.rss("VmRSS"), n.rss("VmHWM")
		if n.srv != nil {
			rs[i].DBLocked = countInLog(n.srv.LogPath, "database is locked")
			rs[i].LogErrors = countInLog(n.srv.LogPath, `"level":"ERROR"`)
		}
	}
}

func sum(xs []float64) float64 {
	var t float64
	for _, x := range xs {
		t += x
	}
	return t
}

// withCPU is a copy of the node figures with one step's CPU.
func withCPU(rs []nodeResult, cpu []float64, seconds float64) []nodeResult {
	rs = slices.Clone(rs)
	for i := range rs {
		if i < len(cpu) && seconds > 0 {
			rs[i].CPUSeconds, rs[i].CPU = round(cpu[i], 2), round(cpu[i]/seconds, 2)
		}
	}
	return rs
}

// fetchProfiles saves a pprof endpoint of every node, all at once (a CPU
// profile covers the same seconds on each), to path, the node's suffix
// among several, then ext.
func (g *generator) fetchProfiles(ctx context.Context, query, path, ext string) error {
	errs := make([]error, len(g.nodes))
	var wg sync.WaitGroup
	for i, n := range g.nodes {
		wg.Go(func() {
			errs[i] = fetchProfile(ctx, n.srv.PprofURL+query, path+spawn.NodeSuffix(i, len(g.nodes))+ext)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
