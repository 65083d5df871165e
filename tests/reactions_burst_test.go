package tests

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// TestReactionsCoalesced: in a room with 1,000 streams, 500 users react to
// one message within about a second. The streams get about one
// message.reactions event a second for it, not 500, at least a second
// apart, the same events on every stream, and every stream ends with the
// final tally that history shows.
func TestReactionsCoalesced(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 streams")
	}
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			o := Options{}
			if db == "postgres" {
				o.DB = freshDatabase(t)
			}
			s := StartServer(t, o)
			const users, streamsPerUser = 500, 2
			owner := s.Client(t, "owner")
			room := coreRoom(t, owner)
			msg := owner.Send(room, "react to this")
			cs := make([]*Client, users)
			for i := range cs {
				cs[i] = s.Client(t, fmt.Sprintf("u%03d", i))
				cs[i].Join(room)
			}
			var streams []*Stream
			for _, c := range cs {
				for range streamsPerUser {
					streams = append(streams, c.Stream(room))
				}
			}
			// A stream is live once it has its retry frame.
			for _, st := range streams {
				if ev := st.Next(10 * time.Second); ev.Retry == "" {
					t.Fatalf("a stream opened with %+v, want its retry frame", ev)
				}
			}

			emoji := []string{"👍", "🎉", "🔥"}
			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, users)
			for i, c := range cs {
				wg.Go(func() {
					req, _ := http.NewRequest("PUT", s.URL+reactPath(room, msg.ID, emoji[i%len(emoji)]), nil)
					req.Header.Set("Authorization", "Bearer "+c.Token)
					resp, err := http.DefaultClient.Do(req)
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							err = fmt.Errorf("%s: status %d", c.User, resp.StatusCode)
						}
					}
					if err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			burst := time.Since(start)
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}

			var final api.RoomMessage
			owner.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/messages/"+msg.ID, nil, &final)
			want := tally(final.Reactions)
			total := 0
			for _, r := range want {
				total += r.Count
			}
			if total != users {
				t.Fatalf("final tally %+v counts %d reactions, want %d", want, total, users)
			}
			var first []api.MessageReactionsData
			for i, st := range streams {
				got := reactionEvents(t, st, msg.ID, want, 20*time.Second)
				if i == 0 {
					first = got
					continue
				}
				if fmt.Sprint(got) != fmt.Sprint(first) {
					t.Fatalf("stream %d got %d events %v, stream 0 %d events %v: want the same", i, len(got), got, len(first), first)
				}
			}
			// About one event a second while the burst lasted, and one more
			// for what came after the last one sent during it.
			limit := int(math.Ceil(burst.Seconds())) + 2
			t.Logf("%d reactions in %s: %d message.reactions events on each of %d streams", users, burst.Round(time.Millisecond), len(first), len(streams))
			if len(first) > limit {
				t.Fatalf("%d message.reactions events for a %s burst, want at most %d", len(first), burst, limit)
			}
			checkSpacing(t, owner, room, msg.ID)
		})
	}
}

// checkSpacing reads the room's log by replay and checks that the
// message.reactions events of msg are at least about a second apart.
func checkSpacing(t *testing.T, c *Client, room, msg string) {
	t.Helper()
	st := c.Stream(room, "Last-Event-ID", "0")
	var times []time.Time
	head := c.History(room, "?limit=1").HeadSeq
	for {
		ev := st.NextRoomEvent(10 * time.Second)
		env := ev.Envelope(t)
		if env.Type == "message.reactions" {
			if d, ok := env.Data.(map[string]any); ok && d["id"] == msg {
				ts, err := time.Parse(time.RFC3339Nano, env.Timestamp)
				if err != nil {
					t.Fatal(err)
				}
				times = append(times, ts)
			}
		}
		if env.Seq >= head {
			break
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 900*time.Millisecond {
			t.Fatalf("message.reactions events %s apart (%v), want about a second at least", gap, times)
		}
	}
}

// TestReactionsCoalescedMultiNode: users on two nodes (PostgreSQL and
// Redis) react to one message for two seconds. Each node's flusher claims
// due tallies under the room's lock, so the two together still make about
// one message.reactions event a second, not one each; streams on both nodes
// get the same events and end with the final tally.
func TestReactionsCoalescedMultiNode(t *testing.T) {
	cl := StartCluster(t, 2, "")
	const users = 100
	names := make([]string, users)
	for i := range names {
		names[i] = fmt.Sprintf("u%03d", i)
	}
	room := setupRoom(t, cl, "alice", names...)
	msg := cl.Client(t, "alice", 0).Send(room, "react to this")
	streams := []*Stream{cl.Client(t, "alice", 0).Stream(room), cl.Client(t, "alice", 1).Stream(room)}
	for _, st := range streams {
		st.Next(10 * time.Second) // the retry frame: live
	}
	emoji := []string{"👍", "🎉"}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for i, u := range names {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 2 * time.Second / users) // spread over two seconds
			node := cl.Nodes[i%len(cl.Nodes)].URL
			if status, err := call(node, cl.Token(t, u), "PUT", reactPath(room, msg.ID, emoji[i%len(emoji)]), nil, nil); err != nil || status != http.StatusOK {
				errs <- fmt.Errorf("%s: %d %v", u, status, err)
			}
		})
	}
	wg.Wait()
	burst := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var final api.RoomMessage
	cl.Client(t, "alice", 1).Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/messages/"+msg.ID, nil, &final)
	want := tally(final.Reactions)
	if len(want) != 2 || want[0].Count+want[1].Count != users {
		t.Fatalf("final tally %+v, want %d reactions over two emoji", want, users)
	}
	a := reactionEvents(t, streams[0], msg.ID, want, 20*time.Second)
	b := reactionEvents(t, streams[1], msg.ID, want, 20*time.Second)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("node0's stream got %v, node1's %v: want the same events", a, b)
	}
	limit := int(math.Ceil(burst.Seconds())) + 2
	t.Logf("%d reactions over two nodes in %s: %d message.reactions events", users, burst.Round(time.Millisecond), len(a))
	if len(a) > limit {
		t.Fatalf("%d message.reactions events for a %s burst on two nodes, want at most %d", len(a), burst, limit)
	}
	checkSpacing(t, cl.Client(t, "alice", 0), room, msg.ID)
}
