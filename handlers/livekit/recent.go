package livekit

import (
	"sync"
	"time"
)

// recentIDs remembers ids for a while, at most max of them, oldest out first.
type recentIDs struct {
	ttl time.Duration
	max int

	mu    sync.Mutex // guards the fields below
	at    map[string]time.Time
	order []string
}

func newRecentIDs(ttl time.Duration, max int) *recentIDs {
	return &recentIDs{ttl: ttl, max: max, at: map[string]time.Time{}}
}

func (r *recentIDs) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.at[id]
	return ok && time.Since(t) < r.ttl
}

func (r *recentIDs) add(id string) {
	if id == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for len(r.order) > 0 && (len(r.order) >= r.max || now.Sub(r.at[r.order[0]]) >= r.ttl) {
		delete(r.at, r.order[0])
		r.order = r.order[1:]
	}
	if _, ok := r.at[id]; !ok {
		r.order = append(r.order, id)
	}
	r.at[id] = now
}
