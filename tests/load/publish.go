package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// publisher is a participant posting to one room with a client_id per send.
type publisher struct {
	id    int
	room  *roomState
	node  *node // the server it posts to
	user  string
	token string
	n     int   // sends so far: the client_id counter
	acks  []ack // the sends the server acknowledged
}

// ack is an acknowledged (201) send: it must reach every stream of the room.
type ack struct {
	seq  int64
	step int
}

// step is one phase of the run at one target rate.
type step struct {
	index    int
	rate     float64 // total msg/s over all publishers; 0 = flat out
	start    time.Time
	end      time.Time
	elapsed  time.Duration // until the last publisher finished its last send
	accepted atomic.Int64
	sent     atomic.Int64
	late     atomic.Int64 // sends issued more than one interval behind schedule
	failed   atomic.Int64
	// CPU seconds each node and the generator spent during the step.
	cpuServer []float64
	cpuGen    float64
	loadAvg   float64
}

// run posts for the step: open loop at rate/P each, staggered so the
// publishers do not fire together, or back to back when the rate is 0. A
// publisher that falls behind sends at once and counts the send as late.
func (p *publisher) run(ctx context.Context, c *client, st *step, nPub int, size int, rec *recorder) {
	pace := newPacer(st, nPub, p.id)
	path := c.base + "/api/v1/rooms/" + p.room.id + "/messages"
	auth := "Bearer " + p.token
	pad := strings.Repeat("x", size)
	var body []byte
	for pace.wait(ctx) {
		p.n++
		body = p.body(body[:0], st.index, size, pad)
		start := time.Now()
		seq, status, err := p.post(ctx, c, path, auth, body)
		st.sent.Add(1)
		if ctx.Err() != nil {
			return
		}
		rec.posted(st.index, p.id, time.Since(start))
		if err != nil || status != http.StatusCreated {
			st.failed.Add(1)
			continue
		}
		st.accepted.Add(1)
		p.acks = append(p.acks, ack{seq: seq, step: st.index})
	}
}

// pacer spaces one sender's requests in a step: open loop at rate/n each,
// the n senders staggered so they do not fire together, or back to back
// when the rate is 0. A sender that falls behind sends at once and counts
// the send as late.
type pacer struct {
	st       *step
	interval time.Duration
	next     time.Time
}

// newPacer paces the i-th of n senders.
func newPacer(st *step, n, i int) *pacer {
	p := &pacer{st: st, next: st.start}
	if st.rate > 0 {
		p.interval = time.Duration(float64(time.Second) * float64(n) / st.rate)
		p.next = st.start.Add(p.interval * time.Duration(i) / time.Duration(n))
	}
	return p
}

// wait returns when the next send is due, or false when the step (or ctx)
// ends first.
func (p *pacer) wait(ctx context.Context) bool {
	if p.interval > 0 {
		if !p.next.Before(p.st.end) {
			return false
		}
		d := time.Until(p.next)
		if d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return false
			}
		} else if -d > p.interval {
			p.st.late.Add(1)
		}
		p.next = p.next.Add(p.interval)
	}
	return ctx.Err() == nil && time.Now().Before(p.st.end)
}

// body writes {"content":"t=<ns> s=<step> xxx…","client_id":"p<id>-<n>"}, the
// content being exactly size bytes (at least the stamp).
func (p *publisher) body(b []byte, step, size int, pad string) []byte {
	b = append(b, `{"content":"t=`...)
	start := len(b) - 2
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, " s="...)
	b = strconv.AppendInt(b, int64(step), 10)
	b = append(b, ' ')
	if n := size - (len(b) - start); n > 0 {
		b = append(b, pad[:n]...)
	}
	b = append(b, `","client_id":"p`...)
	b = strconv.AppendInt(b, int64(p.id), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(p.n), 10)
	return append(b, `"}`...)
}

var seqKey = []byte(`"seq":`)

// post sends one message and returns its seq from the answer.
func (p *publisher) post(ctx context.Context, c *client, url, auth string, body []byte) (int64, int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.errs.transport(err)
		return 0, 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.errs.transport(err)
		return 0, resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusCreated {
		c.errs.status(resp.StatusCode)
		return 0, resp.StatusCode, nil
	}
	i := bytes.Index(b, seqKey)
	if i < 0 {
		return 0, resp.StatusCode, &httpError{Method: "POST", Path: url, Status: resp.StatusCode, Body: "no seq in answer"}
	}
	seq, _ := parseUint(b[i+len(seqKey):])
	return seq, resp.StatusCode, nil
}
