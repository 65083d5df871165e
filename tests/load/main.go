// Command load is resonate-chat's load generator. It acts as real clients do:
// one owner creates each room, stream users join, read the head of history,
// get a stream ticket and open the SSE stream with Last-Event-ID; publishers
// join and post with a client_id. Every message's content starts with its send
// time, so each stream measures delivery latency (receipt − send) and checks
// that every acknowledged message arrives exactly once and in order.
//
// It is a main package without tests: `go test ./...` builds it and runs
// nothing. See tests/load/README.md for the workloads.
//
//	go run ./tests/load -spawn -rooms 1 -streams 1000 -rate 200 -duration 20s
//
// It exits 1 when a message was lost, duplicated or delivered out of order,
// and 2 when it could not set the run up.
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
	url, secret string
	spawn, keep bool
	pid         int
	rooms       int
	streams     int
	publishers  int
	rates       []float64
	duration    time.Duration
	size        int
	idle        bool
	out, label  string
	grace       time.Duration
	settle      time.Duration
	workers     int
	cpuProfile  string
	heapProfile string
	selfProfile string
	stalls      int
	stallFor    time.Duration
	serverLog   string
	buildPkg    string
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	var rates string
	fs.StringVar(&o.url, "url", "", "server base URL, e.g. http://127.0.0.1:8080 (or -spawn)")
	fs.BoolVar(&o.spawn, "spawn", false, "build the server, start it on a temporary SQLite file with CHAT_SEND_RATE=off, stop it at the end")
	fs.BoolVar(&o.keep, "keep", false, "with -spawn: keep the temporary directory (database, server.log)")
	fs.StringVar(&o.secret, "secret", os.Getenv("CHAT_JWT_SECRET"), "the server's CHAT_JWT_SECRET, to sign HS256 tokens (not needed with -spawn)")
	fs.IntVar(&o.pid, "pid", 0, "the server's process id, for RSS, when it was not spawned")
	fs.IntVar(&o.rooms, "rooms", 1, "rooms")
	fs.IntVar(&o.streams, "streams", 1000, "SSE streams, spread round-robin over the rooms; one user each")
	fs.IntVar(&o.publishers, "publishers", 0, "posting participants, spread round-robin over the rooms (0: max(rooms, 16))")
	fs.StringVar(&rates, "rate", "200", "total msg/s over all publishers; 0 = flat out; a comma list runs one step per rate (a sweep)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long each step posts (with -idle: how long streams stay open)")
	fs.IntVar(&o.size, "size", 110, "content bytes per message, send stamp included")
	fs.BoolVar(&o.idle, "idle", false, "open the streams, measure the server's RSS per stream, post nothing")
	fs.StringVar(&o.out, "out", "", "append results as JSON lines to this file")
	fs.StringVar(&o.label, "label", "", "a name for the run in the results (W1, W2…)")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "after posting, how long streams get to catch up before what is missing counts as lost")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "wait after opening the streams before measuring RSS")
	fs.IntVar(&o.workers, "workers", 16, "concurrent requests while setting up")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "with -spawn: save the server's CPU profile over the posting steps here (from /debug/pprof/ on CHAT_INTERNAL_ADDR)")
	fs.StringVar(&o.heapProfile, "heapprofile", "", "with -spawn: save the server's heap profile once the streams are open")
	fs.StringVar(&o.selfProfile, "selfprofile", "", "save the generator's own CPU profile over the posting steps here (is the generator cheap enough?)")
	fs.IntVar(&o.stalls, "stall-streams", 0, "this many streams stop reading for -stall-for halfway through each step (slow clients: the server must drop them, they resume by Last-Event-ID)")
	fs.DurationVar(&o.stallFor, "stall-for", 5*time.Second, "how long a stalled stream stops reading")
	fs.StringVar(&o.serverLog, "server-log-level", "info", "CHAT_LOG_LEVEL of the spawned server (info logs one line per request, as in production)")
	fs.StringVar(&o.buildPkg, "build", ".", "with -spawn: package to build, relative to the module root")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for _, f := range strings.Split(rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r < 0 {
			return nil, fmt.Errorf("-rate: %q is not a rate", f)
		}
		o.rates = append(o.rates, r)
	}
	if o.publishers == 0 {
		o.publishers = max(o.rooms, 16)
	}
	switch {
	case o.rooms < 1 || o.streams < 0 || o.publishers < 1 || o.size < 1 || o.workers < 1:
		return nil, errors.New("rooms, publishers, size and workers must be positive, streams not negative")
	case !o.spawn && o.url == "":
		return nil, errors.New("give -url or -spawn")
	case !o.spawn && len(o.secret) < 32:
		return nil, errors.New("give the server's secret with -secret or CHAT_JWT_SECRET (or use -spawn)")
	case !o.spawn && (o.cpuProfile != "" || o.heapProfile != ""):
		return nil, errors.New("-cpuprofile and -heapprofile need -spawn")
	}
	return o, nil
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
	if need := uint64(o.streams + o.publishers + o.workers + 64); soft < need {
		fmt.Fprintf(os.Stderr, "load: warning: open-file limit %d is below the ~%d this run needs\n", soft, need)
	}
	g := &generator{o: o, fileLimit: soft, pid: o.pid}
	url, secret := o.url, o.secret
	if o.spawn {
		fmt.Fprintf(os.Stderr, "load: building and starting %s…\n", o.buildPkg)
		srv, err := spawn.Start(ctx, spawn.Options{Pkg: o.buildPkg, Pprof: o.cpuProfile != "" || o.heapProfile != "", LogLevel: o.serverLog})
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			return 2
		}
		defer func() {
			srv.Stop(o.keep)
			if o.keep {
				fmt.Fprintln(os.Stderr, "load: kept", srv.Dir)
			}
		}()
		g.srv, g.pid, url, secret = srv, srv.PID, srv.URL, srv.Secret
	}
	g.c = newClient(strings.TrimRight(url, "/"), []byte(secret))
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
	if o.idle {
		fmt.Println("OK: idle streams measured")
	} else {
		fmt.Println("OK: every acknowledged message reached every stream once, in order")
	}
	return 0
}
