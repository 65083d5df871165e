// Command soak holds SSE streams open and posts at a steady rate against a
// server it builds and starts itself, for as long as asked, and prints one row
// of figures per interval: the server's heap and goroutines and open files
// (from its /metrics), the SQLite WAL's size, and what the clients saw. Flat
// columns mean no leak; a growing one names the leak.
//
// It is a main package without tests: `go test ./...` builds it and runs
// nothing.
//
//	go run ./tests/soak -duration 30m -interval 1m -streams 200 -rate 20
//
// Every interval it also closes -churn streams and reopens them with
// Last-Event-ID, so connection set-up and teardown are soaked too. It exits 1
// when a stream saw a gap or a duplicate, or the server died.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/resonate/resonate-chat/tests/internal/spawn"
)

type options struct {
	duration, interval time.Duration
	streams, rooms     int
	rate               float64
	churn              int
	keep               bool
	size               int
}

func main() {
	o := options{}
	flag.DurationVar(&o.duration, "duration", 30*time.Minute, "how long to post and hold streams")
	flag.DurationVar(&o.interval, "interval", time.Minute, "how often to print a row")
	flag.IntVar(&o.streams, "streams", 200, "SSE streams, spread over the rooms, one user each")
	flag.IntVar(&o.rooms, "rooms", 4, "rooms")
	flag.Float64Var(&o.rate, "rate", 20, "messages per second over all rooms")
	flag.IntVar(&o.churn, "churn", 10, "streams closed and reopened (with Last-Event-ID) each interval")
	flag.IntVar(&o.size, "size", 120, "content bytes per message")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (database, server log)")
	flag.Parse()
	if o.streams < o.rooms || o.rooms < 1 || o.rate <= 0 || o.interval <= 0 {
		fmt.Fprintln(os.Stderr, "soak: need rooms ≥ 1, streams ≥ rooms, rate > 0, interval > 0")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, o))
}

func run(ctx context.Context, o options) int {
	srv, err := spawn.Start(ctx, spawn.Options{LogLevel: "warn", Env: []string{"CHAT_MAX_STREAMS_PER_IP=0", "CHAT_MAX_STREAMS_PER_USER=0"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	defer func() {
		srv.Stop(o.keep)
		if o.keep {
			fmt.Println("soak: kept", srv.Dir)
		}
	}()
	fmt.Printf("soak: server pid %d at %s, db %s; %d streams over %d rooms, %.1f msg/s, %s\n",
		srv.PID, srv.URL, srv.DB, o.streams, o.rooms, o.rate, o.duration)

	w, err := setUp(ctx, srv, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak: set up:", err)
		return 2
	}
	defer w.close()

	runCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	go w.post(runCtx, o.rate, o.size)

	var rows []row
	start := time.Now()
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	printHeader()
	sample := func() {
		r := w.sample(srv, time.Since(start))
		rows = append(rows, r)
		r.print()
	}
	sample()
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case <-srv.Exited():
			fmt.Fprintln(os.Stderr, "soak: server exited:", srv.Err())
			return 1
		case <-tick.C:
			w.churn(ctx, o.churn)
			sample()
		}
	}
	time.Sleep(2 * time.Second) // let the last posts reach every stream
	sample()
	fmt.Println("soak: first, middle and last rows:")
	printHeader()
	for _, r := range []row{rows[0], rows[len(rows)/2], rows[len(rows)-1]} {
		r.print()
	}
	behind := w.behind(ctx)
	fmt.Printf("soak: %d streams short of their room's head at the end\n", behind)
	if bad := w.anomalies(); bad > 0 || behind != 0 {
		fmt.Fprintf(os.Stderr, "soak: %d gaps or duplicates seen by streams, %d streams behind\n", bad, behind)
		return 1
	}
	return 0
}
