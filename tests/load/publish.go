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
	var interval time.Duration
	next := st.start
	if st.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(nPub) / st.rate)
		next = st.start.Add(interval * time.Duration(p.id) / time.Duration(nPub))
	}
	path := c.base + "/api/v1/rooms/" + p.room.id + "/messages"
	auth := "Bearer " + p.token
	pad := strings.Repeat("x", size)
	var body []byte
	for ctx.Err() == nil {
		if interval > 0 {
			d := time.Until(next)
			if d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
			} else if -d > interval {
				st.late.Add(1)
			}
			next = next.Add(interval)
		}
		if !time.Now().Before(st.end) {
			return
		}
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
