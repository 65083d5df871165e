// Command chart draws delivery latency against message rate from the load
// generator's JSON lines, as an SVG written by hand (no dependencies):
//
//	go run ./tests/load/chart -label W1 -o docs/perf/w1-latency.svg results.jsonl
//
// Runs with the same target rate are combined by their median (the figures
// are medians of three runs); every run is also drawn as a faint dot. The x
// axis is the accepted rate, which falls short of the target once the server
// saturates.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// point is what the chart reads of one result line.
type point struct {
	Label    string  `json:"label"`
	Idle     bool    `json:"idle"`
	Target   float64 `json:"target_rate"`
	Accepted float64 `json:"accepted_per_s"`
	P50      float64 `json:"delivery_p50_ms"`
	P90      float64 `json:"delivery_p90_ms"`
	P99      float64 `json:"delivery_p99_ms"`
	Lost     int64   `json:"lost"`
}

func main() {
	label := flag.String("label", "W1", "plot the results whose label starts with this")
	out := flag.String("o", "w1-latency.svg", "SVG file to write")
	title := flag.String("title", "", "chart title (default: a description of the label)")
	goal := flag.Float64("goal", 50, "draw the p99 goal at this many ms (0: none)")
	flag.Parse()
	pts, err := read(flag.Args(), *label)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
	if len(pts) == 0 {
		fmt.Fprintf(os.Stderr, "chart: no results labelled %q with a rate\n", *label)
		os.Exit(1)
	}
	if *title == "" {
		*title = fmt.Sprintf("%s: delivery latency against accepted message rate", *label)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
	draw(f, *title, pts, *goal)
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

// read collects the matching results of every file (stdin when none).
func read(files []string, label string) ([]point, error) {
	var pts []point
	scan := func(r io.Reader) error {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var p point
			if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
				return err
			}
			if strings.HasPrefix(p.Label, label) && !p.Idle && p.Accepted > 0 {
				pts = append(pts, p)
			}
		}
		return sc.Err()
	}
	if len(files) == 0 {
		return pts, scan(os.Stdin)
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		err = scan(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return pts, nil
}

// medians groups by target rate (flat-out runs by themselves) and takes each
// figure's median.
func medians(pts []point) []point {
	groups := map[float64][]point{}
	for _, p := range pts {
		groups[p.Target] = append(groups[p.Target], p)
	}
	var out []point
	for target, g := range groups {
		med := func(f func(point) float64) float64 {
			v := make([]float64, len(g))
			for i, p := range g {
				v[i] = f(p)
			}
			sort.Float64s(v)
			if len(v)%2 == 1 {
				return v[len(v)/2]
			}
			return (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		out = append(out, point{Target: target,
			Accepted: med(func(p point) float64 { return p.Accepted }),
			P50:      med(func(p point) float64 { return p.P50 }),
			P90:      med(func(p point) float64 { return p.P90 }),
			P99:      med(func(p point) float64 { return p.P99 })})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Accepted < out[j].Accepted })
	return out
}

// Chart geometry, in SVG user units.
const (
	width, height            = 760.0, 460.0
	left, right, top, bottom = 70.0, 150.0, 50.0, 60.0
	plotW, plotH             = width - left - right, height - top - bottom
)

type series struct {
	name, color string
	get         func(point) float64
}

func draw(w io.Writer, title string, pts []point, goal float64) {
	meds := medians(pts)
	all := []series{
		{"p50", "#2b8cbe", func(p point) float64 { return p.P50 }},
		{"p90", "#f0a202", func(p point) float64 { return p.P90 }},
		{"p99", "#d7301f", func(p point) float64 { return p.P99 }},
	}
	xMax, yMin, yMax := 0.0, math.Inf(1), goal
	for _, p := range pts {
		xMax = max(xMax, p.Accepted, p.Target)
		for _, s := range all {
			if v := s.get(p); v > 0 {
				yMin, yMax = min(yMin, v), max(yMax, v)
			}
		}
	}
	xMax = niceCeil(xMax * 1.05)
	if math.IsInf(yMin, 1) {
		yMin = 1
	}
	lo, hi := math.Floor(math.Log10(yMin)), math.Ceil(math.Log10(yMax))
	if hi <= lo {
		hi = lo + 1
	}
	x := func(v float64) float64 { return left + v/xMax*plotW }
	y := func(v float64) float64 {
		v = max(v, math.Pow(10, lo))
		return top + plotH - (math.Log10(v)-lo)/(hi-lo)*plotH
	}

	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`, width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>`)
	p(`<text x="%.0f" y="24" font-size="15" font-weight="bold">%s</text>`, left, esc(title))
	// Grid and axes: log decades with 2 and 5 between, linear x.
	for d := lo; d <= hi; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if math.Log10(v) > hi+1e-9 {
				break
			}
			stroke := "#eee"
			if m == 1 {
				stroke = "#ccc"
			}
			p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`, left, y(v), left+plotW, y(v), stroke)
			p(`<text x="%.1f" y="%.1f" text-anchor="end" fill="#444">%s</text>`, left-6, y(v)+4, fmtMS(v))
		}
	}
	step := niceStep(xMax / 6)
	for v := 0.0; v <= xMax+1e-9; v += step {
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, x(v), top, x(v), top+plotH)
		p(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#444">%g</text>`, x(v), top+plotH+18, v)
	}
	p(`<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#888"/>`, left, top, plotW, plotH)
	p(`<text x="%.1f" y="%.1f" text-anchor="middle">accepted messages per second</text>`, left+plotW/2, height-16)
	p(`<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">delivery latency, send to receipt (log scale)</text>`, top+plotH/2)
	if goal > 0 {
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555" stroke-dasharray="6 4"/>`, left, y(goal), left+plotW, y(goal))
		p(`<text x="%.1f" y="%.1f" fill="#555">p99 goal %s</text>`, left+plotW+6, y(goal)+4, fmtMS(goal))
	}
	for i, s := range all {
		for _, pt := range pts {
			p(`<circle cx="%.1f" cy="%.1f" r="2" fill="%s" fill-opacity="0.35"/>`, x(pt.Accepted), y(s.get(pt)), s.color)
		}
		var path strings.Builder
		for j, pt := range meds {
			cmd := "L"
			if j == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, x(pt.Accepted), y(s.get(pt)))
		}
		p(`<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.TrimSpace(path.String()), s.color)
		for _, pt := range meds {
			p(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s at %.0f msg/s (target %s): %s</title></circle>`,
				x(pt.Accepted), y(s.get(pt)), s.color, s.name, pt.Accepted, target(pt.Target), fmtMS(s.get(pt)))
		}
		ly := top + 10 + float64(i)*20
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, left+plotW+10, ly, left+plotW+34, ly, s.color)
		p(`<text x="%.1f" y="%.1f">%s</text>`, left+plotW+40, ly+4, s.name)
	}
	p(`<text x="%.1f" y="%.1f" fill="#666" font-size="10">lines: median per target rate</text>`, left+plotW+10, top+80)
	p(`<text x="%.1f" y="%.1f" fill="#666" font-size="10">dots: single runs</text>`, left+plotW+10, top+94)
	p(`</svg>`)
}

func target(t float64) string {
	if t == 0 {
		return "flat out"
	}
	return fmt.Sprintf("%.0f", t)
}

func fmtMS(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%g s", v/1000)
	}
	return fmt.Sprintf("%g ms", v)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

func niceStep(v float64) float64 { return niceCeil(v) }

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
