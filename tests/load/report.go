package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// recorder holds the latency histograms of each step.
type recorder struct {
	delivery []*hist
	post     []*hist
	// step is the step running (or catching up) now: a message.reactions
	// event counts against it.
	step atomic.Int64
}

func newRecorder(steps int) *recorder {
	r := &recorder{}
	for range steps {
		r.delivery = append(r.delivery, &hist{})
		r.post = append(r.post, &hist{})
	}
	return r
}

func (r *recorder) delivered(step, shard int, d time.Duration) {
	if step >= 0 && step < len(r.delivery) {
		r.delivery[step].record(shard, d)
	}
}

func (r *recorder) posted(step, shard int, d time.Duration) { r.post[step].record(shard, d) }

// result is one JSON line of -out: one step of one run. Latencies are in
// milliseconds, memory in KiB.
type result struct {
	Label      string    `json:"label,omitempty"`
	Time       time.Time `json:"time"`
	Command    string    `json:"command"`
	Rooms      int       `json:"rooms"`
	Streams    int       `json:"streams"`
	StreamsOK  int       `json:"streams_open"`
	Publishers int       `json:"publishers"`
	Size       int       `json:"size"`
	Idle       bool      `json:"idle,omitempty"`
	Step       int       `json:"step"`
	TargetRate float64   `json:"target_rate"` // msg/s; 0 = flat out
	DurationS  float64   `json:"duration_s"`

	Sent         int64   `json:"sent"`
	Accepted     int64   `json:"accepted"`
	AcceptedRate float64 `json:"accepted_per_s"`
	Late         int64   `json:"late_sends"`
	PostP50      float64 `json:"post_p50_ms"`
	PostP99      float64 `json:"post_p99_ms"`
	PostMax      float64 `json:"post_max_ms"`

	Deliveries    uint64  `json:"deliveries"`
	Expected      int64   `json:"expected_deliveries"`
	DeliveryP50   float64 `json:"delivery_p50_ms"`
	DeliveryP90   float64 `json:"delivery_p90_ms"`
	DeliveryP99   float64 `json:"delivery_p99_ms"`
	DeliveryMax   float64 `json:"delivery_max_ms"`
	Lost          int64   `json:"lost"`          // (message, stream) pairs never delivered
	LostMessages  int64   `json:"lost_messages"` // acknowledged messages some stream never got
	Duplicated    int64   `json:"duplicated"`    // whole run, not per step
	OutOfOrder    int64   `json:"out_of_order"`  // whole run
	HistoryResets int64   `json:"history_resets"`
	Reconnects    int64   `json:"reconnects"`

	// The room events the step made (a message each, or with -react the
	// message.reactions events) and their deliveries to streams, per
	// second; and the servers' CPU per accepted send or reaction and per
	// delivery, so a reaction run and a message run read side by side.
	EventsPerS              float64 `json:"events_per_s"`
	DeliveriesPerS          float64 `json:"deliveries_per_s"`
	DeliveriesPerStreamPerS float64 `json:"deliveries_per_stream_per_s"`
	CPUPerAcceptedMs        float64 `json:"server_cpu_ms_per_accepted"`
	CPUPerDeliveryUs        float64 `json:"server_cpu_us_per_delivery"`

	// The reaction mode (-react): Accepted, Sent and the Post figures are
	// the reactions and their PUTs. The tally delivery time of a reaction
	// on a stream runs from its 200 answer to the stream's first
	// message.reactions event whose tally includes it (0 when the event
	// came first). TallyMissing counts (reaction, stream) pairs no event
	// included; TallyMismatches (whole run) the (message, stream) pairs
	// whose last tally is not history's at the end.
	Reactors           int     `json:"reactors_per_room,omitempty"`
	ReactMessages      int     `json:"react_messages_per_room,omitempty"`
	ReactionEvents     int64   `json:"reaction_events,omitempty"`
	ReactionDeliveries int64   `json:"reaction_deliveries,omitempty"`
	TallyMeasured      uint64  `json:"tally_measured,omitempty"`
	TallyP50           float64 `json:"tally_p50_ms,omitempty"`
	TallyP90           float64 `json:"tally_p90_ms,omitempty"`
	TallyP99           float64 `json:"tally_p99_ms,omitempty"`
	TallyMax           float64 `json:"tally_max_ms,omitempty"`
	TallyMissing       int64   `json:"tally_missing"`
	TallyMismatches    int64   `json:"tally_mismatches"`

	// Streams connect -burst at a time; ConnectS is how long all took.
	Burst         int            `json:"burst"`
	ConnectS      float64        `json:"connect_s"`
	ConnectErrors map[string]int `json:"connect_errors,omitempty"`

	// The RSS and descriptor figures are the stream nodes' added up; Nodes
	// has each node's.
	RSSBeforeKiB    int64   `json:"rss_before_kib"`
	RSSStreamsKiB   int64   `json:"rss_streams_kib"`
	RSSPerStreamKiB float64 `json:"rss_per_stream_kib"`
	RSSEndKiB       int64   `json:"rss_end_kib"`
	// RSSPerStreamEndKiB is the idle figure again after -duration of
	// holding: the Go runtime has returned the setup's garbage by then.
	RSSPerStreamEndKiB float64 `json:"rss_per_stream_end_kib,omitempty"`
	HWMKiB             int64   `json:"rss_peak_kib"`
	ServerFDs          int64   `json:"server_fds"`
	GeneratorFDs       int     `json:"generator_fds"`
	FileLimit          uint64  `json:"file_limit"`

	// ServerCPU (all nodes) and GeneratorCPU are cores busy during the step
	// (CPU seconds per second): on a shared 2-core box they show who
	// saturated.
	ServerCPU    float64 `json:"server_cpu_cores"`
	GeneratorCPU float64 `json:"generator_cpu_cores"`
	LoadAvg      float64 `json:"loadavg_1m"` // at the end of the step

	HTTPErrors      map[string]int `json:"http_errors"`
	TransportErrors map[string]int `json:"transport_errors,omitempty"`
	DBLocked        int            `json:"database_is_locked"` // all nodes; -1: server log not available
	LogErrors       int            `json:"log_errors"`         // the servers' ERROR lines; -1 likewise
	Spawned         bool           `json:"spawned"`
	Nodes           []nodeResult   `json:"nodes"`
}

// nodeResult is one server's figures in one step; memory in KiB, -1 when
// unknown.
type nodeResult struct {
	URL           string  `json:"url"`
	Streams       int     `json:"streams"` // open on it
	Publishers    int     `json:"publishers"`
	RSSBeforeKiB  int64   `json:"rss_before_kib"`
	RSSStreamsKiB int64   `json:"rss_streams_kib"`
	RSSEndKiB     int64   `json:"rss_end_kib"`
	HWMKiB        int64   `json:"rss_peak_kib"`
	FDs           int64   `json:"fds"`
	CPUSeconds    float64 `json:"cpu_s"`
	CPU           float64 `json:"cpu_cores"`
	DBLocked      int     `json:"database_is_locked"`
	LogErrors     int     `json:"log_errors"`
}

// verdict says why the run failed, if it did: losses are per step,
// duplicates and disorder are counted over the whole run.
func verdict(rs []*result) []string {
	var out []string
	var lost, lostMsgs int64
	for _, r := range rs {
		lost, lostMsgs = lost+r.Lost, lostMsgs+r.LostMessages
	}
	last := rs[len(rs)-1]
	if lost > 0 {
		out = append(out, fmt.Sprintf("%d deliveries lost (%d messages)", lost, lostMsgs))
	}
	if last.Duplicated > 0 {
		out = append(out, fmt.Sprintf("%d duplicated", last.Duplicated))
	}
	if last.OutOfOrder > 0 {
		out = append(out, fmt.Sprintf("%d out of order", last.OutOfOrder))
	}
	var missing int64
	for _, r := range rs {
		missing += r.TallyMissing
	}
	if missing > 0 {
		out = append(out, fmt.Sprintf("%d (reaction, stream) pairs never got a tally including the reaction", missing))
	}
	if last.TallyMismatches > 0 {
		out = append(out, fmt.Sprintf("%d (message, stream) pairs end with a tally other than history's", last.TallyMismatches))
	}
	if last.StreamsOK < last.Streams {
		out = append(out, fmt.Sprintf("%d of %d streams did not connect", last.Streams-last.StreamsOK, last.Streams))
	}
	return out
}

func (r *result) print(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	unit, who := "msg/s", fmt.Sprintf("%d publishers", r.Publishers)
	if r.Reactors > 0 {
		unit, who = "reactions/s", fmt.Sprintf("%d reactors a room on %s each", r.Reactors, count(r.ReactMessages, "message"))
	}
	rate := "flat out"
	if r.Idle {
		rate = "idle"
	} else if r.TargetRate > 0 {
		rate = fmt.Sprintf("%.0f %s", r.TargetRate, unit)
	}
	head := fmt.Sprintf("== %s step %d: %d rooms × %d streams (%d open), %s, %s, %d-byte content, %s",
		r.Label, r.Step, r.Rooms, r.Streams, r.StreamsOK, who, rate, r.Size, count(len(r.Nodes), "node"))
	p("%s", strings.TrimSpace(strings.Replace(head, "==  ", "== ", 1)))
	p("streams       %d of %d connected, %d at a time, in %.1f s; failures %s", r.StreamsOK, r.Streams, r.Burst, r.ConnectS, fmtMap(r.ConnectErrors))
	switch {
	case r.Reactors > 0:
		p("accepted      %d of %d reactions in %.1f s = %.1f reactions/s (%d late)", r.Accepted, r.Sent, r.DurationS, r.AcceptedRate, r.Late)
		p("PUT latency   p50 %s  p99 %s  max %s", ms(r.PostP50), ms(r.PostP99), ms(r.PostMax))
		p("events        %d message.reactions = %.1f/s; %d deliveries = %.1f/s, %.2f/s per stream", r.ReactionEvents, r.EventsPerS,
			r.ReactionDeliveries, r.DeliveriesPerS, r.DeliveriesPerStreamPerS)
		p("tally         %d measured (reaction × stream); p50 %s  p90 %s  p99 %s  max %s; missing %d, final tallies unlike history's %d",
			r.TallyMeasured, ms(r.TallyP50), ms(r.TallyP90), ms(r.TallyP99), ms(r.TallyMax), r.TallyMissing, r.TallyMismatches)
	case !r.Idle:
		p("accepted      %d of %d sent in %.1f s = %.1f msg/s (%d late sends)", r.Accepted, r.Sent, r.DurationS, r.AcceptedRate, r.Late)
		p("POST latency  p50 %s  p99 %s  max %s", ms(r.PostP50), ms(r.PostP99), ms(r.PostMax))
		p("delivery      %d of %d expected; p50 %s  p90 %s  p99 %s  max %s; %.1f/s", r.Deliveries, r.Expected,
			ms(r.DeliveryP50), ms(r.DeliveryP90), ms(r.DeliveryP99), ms(r.DeliveryMax), r.DeliveriesPerS)
	}
	if !r.Idle {
		p("CPU           servers %.2f cores (%.3f ms per accepted, %.2f µs per delivery), generator %.2f cores (%d cores, load average %.1f)",
			r.ServerCPU, r.CPUPerAcceptedMs, r.CPUPerDeliveryUs, r.GeneratorCPU, runtime.NumCPU(), r.LoadAvg)
		p("integrity     lost %d (%d messages), duplicated %d, out of order %d, history.reset %d, reconnects %d",
			r.Lost, r.LostMessages, r.Duplicated, r.OutOfOrder, r.HistoryResets, r.Reconnects)
	}
	if r.RSSBeforeKiB >= 0 {
		who := "server RSS   "
		if len(r.Nodes) > 1 {
			who = "stream nodes'"
		}
		p("%s %s before streams, %s with streams (%.1f KiB per stream), %s at end, peak %s",
			who, kib(r.RSSBeforeKiB), kib(r.RSSStreamsKiB), r.RSSPerStreamKiB, kib(r.RSSEndKiB), kib(r.HWMKiB))
		if r.Idle {
			p("idle streams  %.1f KiB per stream once open, %.1f KiB after holding them %.0f s",
				r.RSSPerStreamKiB, r.RSSPerStreamEndKiB, r.DurationS)
		}
		p("descriptors   server %d, generator %d, limit %d each", r.ServerFDs, r.GeneratorFDs, r.FileLimit)
	}
	if len(r.Nodes) > 1 {
		for i, n := range r.Nodes {
			p("node %-8d %s: %d streams, %d publishers; CPU %.2f cores (%.1f s); log errors %s, \"database is locked\" %s",
				i, n.URL, n.Streams, n.Publishers, n.CPU, n.CPUSeconds, logCount(n.LogErrors), logCount(n.DBLocked))
			if n.RSSBeforeKiB >= 0 {
				p("              RSS %s before streams, %s with streams, %s at end, peak %s; %d descriptors",
					kib(n.RSSBeforeKiB), kib(n.RSSStreamsKiB), kib(n.RSSEndKiB), kib(n.HWMKiB), n.FDs)
			}
		}
	}
	p("HTTP errors   %s; transport errors %s; log errors %s; \"database is locked\" %s",
		fmtMap(r.HTTPErrors), fmtMap(r.TransportErrors), logCount(r.LogErrors), logCount(r.DBLocked))
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func kib(v int64) string { return fmt.Sprintf("%.1f MiB", float64(v)/1024) }

// count is "1 node", "2 nodes".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func logCount(n int) string {
	if n < 0 {
		return "n/a"
	}
	return fmt.Sprint(n)
}

func fmtMap(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s×%d", k, m[k])
	}
	return b.String()
}

// appendJSON appends results as JSON lines to path.
func appendJSON(path string, rs []*result) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
