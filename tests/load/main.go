// Command load is resonate-chat's load generator. It acts as real clients do:
// one owner creates each room, stream users join, read the head of history,
// get a stream ticket and open the SSE stream with Last-Event-ID; publishers
// join and post with a client_id. Every message's content starts with its send
// time, so each stream measures delivery latency (receipt − send) and checks
// that every acknowledged message arrives exactly once and in order. It drives
// one server or the nodes of one deployment: streams on some, publishers on
// others, one report. With -react, reactors react to a few messages instead
// of publishers posting, and every stream's message.reactions events are
// timed against the reactions' answers and checked against history.
//
// It is a main package without tests: `go test ./...` builds it and runs
// nothing. See tests/load/README.md for the workloads.
//
//	go run ./tests/load -spawn -rooms 1 -streams 1000 -rate 200 -duration 20s
//	go run ./tests/load -spawn -db postgres://… -redis redis://… -nodes 2 -stream-nodes 1 -publish-nodes 0 …
//
// It exits 1 when a message was lost, duplicated or delivered out of order, a
// reaction's tally never reached a stream or a stream's final tally is not
// history's, or a stream never connected, and 2 when it could not set the
// run up.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/resonate/resonate-chat/tests/internal/spawn"
)

// options are the command line.
type options struct {
	urls         []string
	secret       string
	pids         []int
	spawn, keep  bool
	db, redis    string
	nodes        int
	nodeCPU      float64
	streamNodes  []int // indexes into the nodes; nil: all
	postByRoom   bool
	publishNodes []int
	rooms        int
	streams      int
	publishers   int
	rates        []float64
	duration     time.Duration
	size         int
	idle         bool
	out, label   string
	grace        time.Duration
	settle       time.Duration
	workers      int
	burst        int
	cpuProfile   string
	heapProfile  string
	selfProfile  string
	stalls       int
	stallFor     time.Duration
	serverLog    string
	buildPkg     string
	// the reaction mode: reactors per room instead of publishers
	react         int
	reactMessages int // 0: enough for the run
	emoji         []string
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	var urls, pids, streamNodes, publishNodes, rates string
	fs.StringVar(&urls, "url", "", "server base URLs, comma-separated: the nodes of one deployment, e.g. http://a:8080,http://b:8080 (or -spawn)")
	fs.BoolVar(&o.spawn, "spawn", false, "build the server, start it (on a temporary SQLite file unless -db) with CHAT_SEND_RATE=off, stop it at the end")
	fs.StringVar(&o.db, "db", "", "with -spawn: a PostgreSQL server's postgres:// URL; the run gets a fresh database on it, dropped at the end")
	fs.StringVar(&o.redis, "redis", "", "with -spawn: a redis:// URL for fan-out between the nodes (CHAT_REDIS_URL), with a channel prefix of the run's own")
	fs.IntVar(&o.nodes, "nodes", 1, "with -spawn: how many server processes; more than one needs -db and -redis")
	fs.Float64Var(&o.nodeCPU, "node-cpu", 0, "with -spawn: cores each node may use (a cgroup quota; Linux, as root), to model nodes on machines of their own; 0: no limit")
	fs.StringVar(&streamNodes, "stream-nodes", "", "indexes of the nodes that carry streams, e.g. 1 or 0,2 (default: all)")
	fs.StringVar(&publishNodes, "publish-nodes", "", "indexes of the nodes publishers post to (default: all)")
	fs.BoolVar(&o.postByRoom, "post-by-room", false, "all the publishers of a room post to one of the -publish-nodes, as behind a load balancer that picks the node by room")
	fs.BoolVar(&o.keep, "keep", false, "with -spawn: keep the temporary directory (database, server logs) and the PostgreSQL database")
	fs.StringVar(&o.secret, "secret", os.Getenv("CHAT_JWT_SECRET"), "the servers' CHAT_JWT_SECRET, to sign HS256 tokens (not needed with -spawn)")
	fs.StringVar(&pids, "pid", "", "the servers' process ids, comma-separated in -url's order, for RSS and CPU, when they were not spawned")
	fs.IntVar(&o.rooms, "rooms", 1, "rooms")
	fs.IntVar(&o.streams, "streams", 1000, "SSE streams, spread round-robin over the rooms; one user each")
	fs.IntVar(&o.publishers, "publishers", 0, "posting participants, spread round-robin over the rooms (0: max(rooms, 16))")
	fs.StringVar(&rates, "rate", "200", "total msg/s over all publishers (with -react: reactions/s over all reactors); 0 = flat out; a comma list runs one step per rate (a sweep)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long each step posts (with -idle: how long streams stay open)")
	fs.IntVar(&o.size, "size", 110, "content bytes per message, send stamp included")
	fs.BoolVar(&o.idle, "idle", false, "open the streams, measure the server's RSS per stream, post nothing")
	fs.StringVar(&o.out, "out", "", "append results as JSON lines to this file")
	fs.StringVar(&o.label, "label", "", "a name for the run in the results (W1, W2…)")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "after posting, how long streams get to catch up before what is missing counts as lost")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait after opening the streams before measuring RSS")
	fs.IntVar(&o.workers, "workers", 16, "concurrent requests while creating rooms and joining")
	fs.IntVar(&o.burst, "burst", 16, "streams connecting at a time (each: history head, ticket, stream), as a crowd arriving at once")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "with -spawn: save each server's CPU profile over the posting steps here (.nodeN added among several nodes)")
	fs.StringVar(&o.heapProfile, "heapprofile", "", "with -spawn: save each server's heap profile once the streams are open")
	fs.StringVar(&o.selfProfile, "selfprofile", "", "save the generator's own CPU profile over the posting steps here (is the generator cheap enough?)")
	fs.IntVar(&o.stalls, "stall-streams", 0, "this many streams stop reading for -stall-for halfway through each step (slow clients: the server must drop them, they resume by Last-Event-ID)")
	fs.DurationVar(&o.stallFor, "stall-for", 5*time.Second, "how long a stalled stream stops reading")
	fs.StringVar(&o.serverLog, "server-log-level", "info", "CHAT_LOG_LEVEL of the spawned servers (info logs one line per request, as in production)")
	fs.StringVar(&o.buildPkg, "build", ".", "with -spawn: package to build, relative to the module root")
	fs.IntVar(&o.react, "react", 0, "the reaction mode: this many reactors per room (one user each) react instead of publishers posting, -rate being reactions/s")
	fs.IntVar(&o.reactMessages, "react-messages", 0, "with -react: messages per room to react to (0: enough that no reactor repeats a reaction)")
	var emoji string
	fs.StringVar(&emoji, "react-emoji", "👍,❤️,😂,🎉,👏", "with -react: the emoji the reactors cycle through (at most 20)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	o.emoji, _ = parseList(emoji, func(s string) (string, error) { return s, nil })
	o.urls, _ = parseList(urls, func(s string) (string, error) { return strings.TrimRight(s, "/"), nil })
	if o.rates, err = parseList(rates, parseRate); err != nil {
		return nil, fmt.Errorf("-rate: %w", err)
	}
	if o.pids, err = parseList(pids, strconv.Atoi); err != nil {
		return nil, fmt.Errorf("-pid: %w", err)
	}
	if o.streamNodes, err = parseList(streamNodes, strconv.Atoi); err != nil {
		return nil, fmt.Errorf("-stream-nodes: %w", err)
	}
	if o.publishNodes, err = parseList(publishNodes, strconv.Atoi); err != nil {
		return nil, fmt.Errorf("-publish-nodes: %w", err)
	}
	if o.publishers == 0 {
		o.publishers = max(o.rooms, 16)
	}
	if !o.spawn {
		o.nodes = len(o.urls)
	}
	switch {
	case o.spawn == (len(o.urls) > 0):
		return nil, errors.New("give -url or -spawn, not both")
	case o.rooms < 1 || o.streams < 0 || o.publishers < 1 || o.size < 1 || o.workers < 1 || o.burst < 1 || o.nodes < 1:
		return nil, errors.New("rooms, publishers, size, workers, burst and nodes must be positive, streams not negative")
	case len(o.rates) == 0:
		return nil, errors.New("-rate: give at least one rate")
	case !o.spawn && (o.db != "" || o.redis != "" || o.cpuProfile != "" || o.heapProfile != ""):
		return nil, errors.New("-db, -redis, -cpuprofile and -heapprofile need -spawn")
	case !o.spawn && len(o.secret) < 32:
		return nil, errors.New("give the servers' secret with -secret or CHAT_JWT_SECRET (or use -spawn)")
	case o.pids != nil && len(o.pids) != len(o.urls):
		return nil, errors.New("-pid: one process id per -url")
	case o.react < 0 || o.reactMessages < 0 || (o.react > 0 && o.idle):
		return nil, errors.New("-react and -react-messages are not negative, and -react does not go with -idle")
	case o.react > 0 && (len(o.emoji) == 0 || len(o.emoji) > 20):
		return nil, errors.New("-react-emoji: 1 to 20 emoji (a message holds at most 20)")
	case !inRange(o.streamNodes, o.nodes) || !inRange(o.publishNodes, o.nodes):
		return nil, fmt.Errorf("-stream-nodes and -publish-nodes: indexes from 0 to %d", o.nodes-1)
	}
	return o, nil
}

// parseList parses a comma-separated list; an empty string is an empty list.
func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", f, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err == nil && r < 0 {
		err = errors.New("a rate is not negative")
	}
	return r, err
}

func inRange(idx []int, n int) bool {
	for _, i := range idx {
		if i < 0 || i >= n {
			return false
		}
	}
	return true
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	o, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	soft, hard, err := raiseFileLimit()
	if err != nil {
		fmt.Fprintf(os.Stderr, "load: raising the open-file limit to %d: %v\n", hard, err)
	}
	if need := uint64(o.streams + o.publishers + o.react*o.rooms + o.workers + o.burst + 64); soft < need {
		fmt.Fprintf(os.Stderr, "load: warning: open-file limit %d is below the ~%d this run needs\n", soft, need)
	}
	g := &generator{o: o, fileLimit: soft}
	if o.spawn {
		fmt.Fprintf(os.Stderr, "load: building and starting %s, %s…\n", o.buildPkg, count(o.nodes, "node"))
		cl, err := spawn.StartCluster(ctx, spawn.Options{Pkg: o.buildPkg, Pprof: o.cpuProfile != "" || o.heapProfile != "",
			LogLevel: o.serverLog, DB: o.db, Redis: o.redis, Nodes: o.nodes, CPU: o.nodeCPU})
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			return 2
		}
		defer func() {
			if err := cl.Stop(o.keep); err != nil {
				fmt.Fprintln(os.Stderr, "load:", err)
			}
			if o.keep {
				fmt.Fprintln(os.Stderr, "load: kept", cl.Dir, "and the database", cl.DB)
			}
		}()
		var nodes []*node
		for _, s := range cl.Nodes {
			nodes = append(nodes, &node{url: s.URL, pid: s.PID, srv: s})
		}
		g.setNodes(cl.Secret, nodes)
	} else {
		nodes := make([]*node, len(o.urls))
		for i, u := range o.urls {
			nodes[i] = &node{url: u}
			if o.pids != nil {
				nodes[i].pid = o.pids[i]
			}
		}
		g.setNodes(o.secret, nodes)
	}
	results, err := g.run(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		return 2
	}
	for _, r := range results {
		r.print(os.Stdout)
	}
	if o.out != "" {
		if err := appendJSON(o.out, results); err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			return 2
		}
	}
	if fails := verdict(results); len(fails) > 0 {
		fmt.Println("FAIL:", strings.Join(fails, "; "))
		return 1
	}
	switch {
	case o.idle:
		fmt.Println("OK: idle streams measured")
	case o.react > 0:
		fmt.Println("OK: every stream got every accepted reaction's tally and ends with history's tallies")
	default:
		fmt.Println("OK: every acknowledged message reached every stream once, in order")
	}
	return 0
}
