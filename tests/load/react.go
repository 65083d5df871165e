package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The reaction mode (-react N): N reactors per room, each a participant of
// its own, react at the step's rate instead of publishers posting. Every
// reaction is an add, never a removal, so a message's tally only grows and
// its total (the counts added up) orders the tallies: an event whose total
// is at least the total in a reaction's 200 answer (read in the writing
// transaction, under the room's lock) includes that reaction. That is what
// makes the tally delivery time exact without reading user ids from events
// that carry none.

// reactTarget is a message the reactors of a room react to; the room's
// owner posts them all before the streams open.
type reactTarget struct {
	id  string
	seq int64
}

// reactor is a participant reacting to its room's targets: its n-th
// reaction goes to target n/E with emoji (id+n) mod E, E being the number of
// emoji, so a user never adds the same reaction twice, and all the reactors
// of a room work on the same message at the same time: a burst on one
// message, then the next.
type reactor struct {
	id    int
	room  *roomState
	node  *node
	user  string
	token string
	n     int
	acks  []reactAck
}

// reactAck is an accepted (200) reaction: every stream of the room must get
// a message.reactions event whose tally includes it.
type reactAck struct {
	target int
	total  int   // the tally's total in the answer
	at     int64 // unix ns the answer arrived
	step   int
}

// tallyEvent is one message.reactions event a stream received.
type tallyEvent struct {
	seq    int64 // the event's own
	target int
	total  int
	at     int64 // unix ns received
	step   int
}

// reactionWire is the part of a message.reactions frame the generator reads.
type reactionWire struct {
	Data struct {
		Seq       int64 `json:"seq"`
		Reactions []struct {
			Emoji string `json:"emoji"`
			Count int    `json:"count"`
		} `json:"reactions"`
	} `json:"data"`
}

// reactionsPrefix starts the data line of a message.reactions frame: the
// server writes "type" first.
var reactionsPrefix = []byte(`data: {"type":"message.reactions"`)

// parseTally decodes a message.reactions data line: the message's seq, the
// tally's total and its canonical form ("👍:3,🎉:1"). A few a second per
// stream, so plain JSON decoding is cheap enough.
func parseTally(line []byte) (msgSeq int64, total int, tally string, ok bool) {
	var w reactionWire
	if json.Unmarshal(line[len("data: "):], &w) != nil {
		return 0, 0, "", false
	}
	parts := make([]string, len(w.Data.Reactions))
	for i, r := range w.Data.Reactions {
		total += r.Count
		parts[i] = r.Emoji + ":" + strconv.Itoa(r.Count)
	}
	return w.Data.Seq, total, strings.Join(parts, ","), true
}

// onTally records a fresh message.reactions event on a stream.
func (s *subscriber) onTally(seq, msgSeq int64, total int, tally string, step int) {
	t, ok := s.room.targetIndex[msgSeq]
	if !ok {
		return
	}
	s.tallies = append(s.tallies, tallyEvent{seq: seq, target: t, total: total, at: time.Now().UnixNano(), step: step})
	s.final[t] = tally
	s.totals[t].Store(int64(total))
}

// postTargets has each room's owner post the messages its reactors react to.
func (g *generator) postTargets(ctx context.Context) error {
	n := g.o.reactMessages
	if n == 0 {
		n = autoTargets(g.o)
	}
	return parallel(ctx, len(g.rooms), g.o.workers, func(i int) error {
		rm := g.rooms[i]
		rm.targetIndex = map[int64]int{}
		for k := range n {
			var m struct {
				ID  string `json:"id"`
				Seq int64  `json:"seq"`
			}
			body := map[string]string{"content": fmt.Sprintf("react to this (%d)", k), "client_id": "target-" + strconv.Itoa(k)}
			if _, err := g.c.call(ctx, "POST", "/api/v1/rooms/"+rm.id+"/messages", rm.ownerToken, body, &m, http.StatusCreated); err != nil {
				return err
			}
			rm.targetIndex[m.Seq] = len(rm.targets)
			rm.targets = append(rm.targets, reactTarget{id: m.ID, seq: m.Seq})
		}
		return nil
	})
}

// autoTargets is enough messages that no reactor runs out of new
// (message, emoji) pairs over all the steps; flat out, 20.
func autoTargets(o *options) int {
	perReactor := 0.0
	for _, r := range o.rates {
		if r == 0 {
			return 20
		}
		perReactor += r / float64(o.react*o.rooms) * o.duration.Seconds()
	}
	return max(1, int(perReactor)/len(o.emoji)+1)
}

// run is the reactor's share of a step, paced like a publisher's posts.
func (r *reactor) run(ctx context.Context, st *step, nReactors int, emoji []string, rec *recorder) {
	pace := newPacer(st, nReactors, r.id)
	c := r.node.c
	for pace.wait(ctx) {
		e := len(emoji)
		t := (r.n / e) % len(r.room.targets)
		fresh := r.n < len(r.room.targets)*e // past that, PUTs repeat: idempotent, nothing to measure
		path := "/api/v1/rooms/" + r.room.id + "/messages/" + r.room.targets[t].id + "/reactions/" + url.PathEscape(emoji[(r.id+r.n)%e])
		r.n++
		var ans struct {
			Reactions []struct {
				Count int `json:"count"`
			} `json:"reactions"`
		}
		start := time.Now()
		_, err := c.call(ctx, "PUT", path, r.token, nil, &ans, http.StatusOK)
		st.sent.Add(1)
		if ctx.Err() != nil {
			return
		}
		rec.posted(st.index, r.id, time.Since(start))
		if err != nil {
			st.failed.Add(1)
			continue
		}
		st.accepted.Add(1)
		if fresh {
			total := 0
			for _, x := range ans.Reactions {
				total += x.Count
			}
			r.acks = append(r.acks, reactAck{target: t, total: total, at: time.Now().UnixNano(), step: st.index})
		}
	}
}

// reactionsBehind is how many (stream, message) pairs have not yet received
// a tally as large as the largest accepted answer: the grace wait's test.
func (g *generator) reactionsBehind() int {
	behind := 0
	for _, rm := range g.rooms {
		want := make([]int, len(rm.targets))
		for _, r := range rm.reactors {
			for _, a := range r.acks {
				want[a.target] = max(want[a.target], a.total)
			}
		}
		for _, s := range rm.subs {
			for t, w := range want {
				if s.opened && int(s.totals[t].Load()) < w {
					behind++
				}
			}
		}
	}
	return behind
}

// reactStats is what the reaction mode adds to a step's result.
type reactStats struct {
	events     []int64 // distinct message.reactions events, per step
	deliveries []int64 // events received over all streams, per step
	tally      []*hist // tally delivery time, per step
	missing    []int64 // (reaction, stream) pairs no event included, per step
	mismatches int64   // (message, stream) pairs whose last tally is not the server's
}

// reactionResults measures, after the streams have ended, the tally
// delivery time of every accepted reaction on every stream of its room, and
// compares each stream's last tally of each message with history's.
func (g *generator) reactionResults(ctx context.Context, steps int) *reactStats {
	rs := &reactStats{events: make([]int64, steps), deliveries: make([]int64, steps), missing: make([]int64, steps)}
	for range steps {
		rs.tally = append(rs.tally, &hist{})
	}
	for _, rm := range g.rooms {
		made := map[int64]int{} // event seq → step first seen
		for _, s := range rm.subs {
			if !s.opened {
				continue
			}
			// A stream's events of one message, in the order received:
			// their totals never fall, so the first that includes a
			// reaction is found by binary search.
			byTarget := make([][]tallyEvent, len(rm.targets))
			for _, e := range s.tallies {
				byTarget[e.target] = append(byTarget[e.target], e)
				if e.step >= 0 && e.step < steps {
					rs.deliveries[e.step]++
					if _, ok := made[e.seq]; !ok {
						made[e.seq] = e.step
					}
				}
			}
			for _, r := range rm.reactors {
				for _, a := range r.acks {
					evs := byTarget[a.target]
					i := sort.Search(len(evs), func(i int) bool { return evs[i].total >= a.total })
					if i == len(evs) {
						rs.missing[a.step]++
						continue
					}
					rs.tally[a.step].record(s.id, time.Duration(evs[i].at-a.at))
				}
			}
		}
		for _, st := range made {
			rs.events[st]++
		}
		want, err := g.historyTallies(ctx, rm)
		if err != nil {
			fmt.Fprintln(os.Stderr, "load: reading the final tallies:", err)
			want = nil
		}
		for _, s := range rm.subs {
			for t := range rm.targets {
				if s.opened && (want == nil || s.final[t] != want[t]) {
					rs.mismatches++
				}
			}
		}
	}
	return rs
}

// historyTallies reads a room's messages oldest first and returns the
// targets' tallies in the events' canonical form.
func (g *generator) historyTallies(ctx context.Context, rm *roomState) ([]string, error) {
	out := make([]string, len(rm.targets))
	after := int64(0)
	for {
		var page struct {
			Messages []struct {
				Seq       int64 `json:"seq"`
				Reactions []struct {
					Emoji string `json:"emoji"`
					Count int    `json:"count"`
				} `json:"reactions"`
			} `json:"messages"`
		}
		q := "/api/v1/rooms/" + rm.id + "/messages?limit=100&after=" + strconv.FormatInt(after, 10)
		if _, err := g.c.call(ctx, "GET", q, rm.ownerToken, nil, &page, http.StatusOK); err != nil {
			return nil, err
		}
		if len(page.Messages) == 0 {
			return out, nil
		}
		for _, m := range page.Messages {
			after = max(after, m.Seq)
			if t, ok := rm.targetIndex[m.Seq]; ok {
				parts := make([]string, len(m.Reactions))
				for i, r := range m.Reactions {
					parts[i] = r.Emoji + ":" + strconv.Itoa(r.Count)
				}
				out[t] = strings.Join(parts, ",")
			}
		}
	}
}
