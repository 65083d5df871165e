package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// TestModerationMute shows a timed mute: sends and edits are refused with
// until and Retry-After, GET /me and the participant list say so, and once the
// second has passed the user posts again.
func TestModerationMute(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	path, cs := modRoom(t, s, "bob")
	room, bob := modRoomID(path), cs["bob"]
	msg := bob.Send(room, "before the mute")

	var mute api.Mute
	cs["mod"].Must(200, "PUT", path+"/mutes/bob", map[string]any{"duration_seconds": 1, "reason": "calm down"}, &mute)
	until := modTime(t, &mute.Until)
	if mute.UserID != "bob" || mute.By != "mod" || mute.Reason == nil || *mute.Reason != "calm down" ||
		until.Before(time.Now()) || until.After(time.Now().Add(1100*time.Millisecond)) {
		t.Fatalf("got mute %+v, want bob by mod for 1 s with the reason", mute)
	}
	for _, r := range []*Response{
		bob.Do("POST", path+"/messages", map[string]string{"content": "let me speak"}),
		bob.Do("PATCH", path+"/messages/"+msg.ID, map[string]string{"content": "edited while muted"}),
	} {
		p := modProblem(t, r, 403, "muted")
		if p.Until == nil || *p.Until != mute.Until {
			t.Fatalf("got until %v, want %s", p.Until, mute.Until)
		}
		if n := modRetryAfter(t, r); n != 1 {
			t.Fatalf("got Retry-After %d, want 1", n)
		}
	}
	if me := modMe(bob, path); me.CanPost || me.Reason == nil || *me.Reason != "muted" || me.MutedUntil == nil || *me.MutedUntil != mute.Until {
		t.Fatalf("got me %+v, want can_post false, reason muted, muted_until %s", me, mute.Until)
	}
	var list api.ParticipantList
	cs["mod"].Must(200, "GET", path+"/participants", nil, &list)
	for _, p := range list.Participants {
		if (p.UserID == "bob") != (p.MutedUntil != nil) {
			t.Fatalf("got participant %s muted_until %v, want it set for bob only", p.UserID, p.MutedUntil)
		}
	}
	// Waiting out a one-second mute is the point of this step.
	waitFor(t, 3*time.Second, "the mute to run out", func() bool { return modMe(bob, path).CanPost })
	bob.Send(room, "free again")
	bob.Must(200, "PATCH", path+"/messages/"+msg.ID, map[string]string{"content": "edited after the mute"}, nil)

	bad := []struct {
		name, user string
		body       any
		status     int
		code       string
	}{
		{"not a participant", "carol", map[string]any{"duration_seconds": 60}, 404, "not_found"},
		{"zero", "bob", map[string]any{"duration_seconds": 0}, 400, "invalid"},
		{"negative", "bob", map[string]any{"duration_seconds": -5}, 400, "invalid"},
		{"over 7 days", "bob", map[string]any{"duration_seconds": 7*24*3600 + 1}, 400, "invalid"},
		{"absent", "bob", map[string]any{"reason": "no duration"}, 400, "invalid"},
		{"not a number", "bob", map[string]any{"duration_seconds": "60"}, 400, "invalid"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			modProblem(t, cs["mod"].Do("PUT", path+"/mutes/"+b.user, b.body), b.status, b.code)
		})
	}
	cs["mod"].Must(200, "PUT", path+"/mutes/bob", map[string]any{"duration_seconds": 7 * 24 * 3600}, nil)
	modProblem(t, bob.Do("POST", path+"/messages", map[string]string{"content": "still muted?"}), 403, "muted")
	cs["mod"].Must(204, "DELETE", path+"/mutes/bob", nil, nil)
	bob.Send(room, "unmuted")
	modProblem(t, cs["mod"].Do("DELETE", path+"/mutes/carol", nil), 404, "not_found")
}

// modRawSend posts as token without the harness's Fatal, so that it may run
// on any goroutine.
func modRawSend(s *Server, token, path, content string) (status int, body []byte, err error) {
	b, _ := json.Marshal(map[string]string{"content": content})
	req, err := http.NewRequest("POST", s.URL+path+"/messages", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// TestModerationMuteRace has several goroutines posting as one user while a
// moderator mutes them: a send either lands before user.muted (lower seq) or
// is refused, and every send begun after the mute's response is refused.
func TestModerationMuteRace(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	path, cs := modRoom(t, s, "xavier")
	room := modRoomID(path)
	st := cs["owner"].Stream(room, "Last-Event-ID", "0")

	type result struct {
		status     int
		code       string
		seq        int64
		afterMuted bool // begun after the mute's response arrived
	}
	const posters = 4
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
		muted   = make(chan struct{})
		started = make(chan struct{}, posters*10)
	)
	for g := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				after := false
				select {
				case <-muted:
					after = true
				default:
				}
				status, body, err := modRawSend(s, cs["xavier"].Token, path, fmt.Sprintf("poster %d, post %d", g, i))
				if err != nil {
					t.Errorf("send: %v", err)
					return
				}
				var out struct {
					Seq  int64  `json:"seq"`
					Code string `json:"code"`
				}
				_ = json.Unmarshal(body, &out)
				mu.Lock()
				results = append(results, result{status, out.Code, out.Seq, after})
				mu.Unlock()
				if i == 2 {
					started <- struct{}{}
				}
				if after {
					return // one send after the mute per poster is the proof; more add nothing
				}
			}
		}()
	}
	for range posters {
		<-started // every poster is in full swing
	}
	var mute api.Mute
	cs["mod"].Must(200, "PUT", path+"/mutes/xavier", map[string]any{"duration_seconds": 600}, &mute)
	close(muted)
	wg.Wait()

	evs := modUntilEvent(t, st, "user.muted")
	mutedSeq := modSeq(t, evs[len(evs)-1])
	created, refusedAfter := 0, 0
	for _, r := range results {
		switch {
		case r.status == 201 && r.afterMuted:
			t.Errorf("a send begun after the mute got 201 (seq %d), want 403 muted", r.seq)
		case r.status == 201 && r.seq >= mutedSeq:
			t.Errorf("a send got 201 with seq %d, want below user.muted's seq %d", r.seq, mutedSeq)
		case r.status == 201:
			created++
		case r.status != 403 || r.code != "muted":
			t.Errorf("a send got %d %q, want 201 or 403 muted", r.status, r.code)
		case r.afterMuted:
			refusedAfter++
		}
	}
	streamed := 0
	for _, ev := range evs {
		if ev.Type == "message.created" {
			streamed++
		}
	}
	if created != streamed || refusedAfter < posters {
		t.Fatalf("got %d sends accepted and %d message.created before user.muted, %d refused after the mute; want equal counts and ≥ %d refusals",
			created, streamed, refusedAfter, posters)
	}
	t.Logf("%d sends accepted before the mute, %d refused after it", created, refusedAfter)
	if later := cs["owner"].History(room, "?after="+modI(mutedSeq)); len(later.Messages) != 0 {
		t.Fatalf("got %d messages after user.muted, want none", len(later.Messages))
	}
}
