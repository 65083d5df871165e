package broadcast_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/resonate/resonate-chat/broadcast"
)

// benchData is the data line of a message.created event with 110 bytes of
// content, as the server encodes it: the size the workloads move.
var benchData = []byte(`{"type":"message.created","room_id":"load-1a2b3c-0","seq":12345,"timestamp":"2026-11-25T09:02:03.456789Z",` +
	`"data":{"id":"k7x2m4q9v3n8p1r5t6w0y2z4ab","room_id":"load-1a2b3c-0","seq":12345,"sender_id":"load-1a2b3c-p3",` +
	`"sender_name":"load-1a2b3c-p3","content":"t=1764061323456789012 s=0 ` + strings.Repeat("x", 84) + `",` +
	`"timestamp":"2026-11-25T09:02:03.456789Z","edited_at":null,"reply_to":null,"is_deleted":false,"client_id":"p3-1234"}}`)

// BenchmarkFrame encodes one message event as its SSE frame: once per event,
// whatever the number of streams.
func BenchmarkFrame(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchData)))
	for b.Loop() {
		_ = broadcast.Frame(12345, "message.created", benchData)
	}
}

// benchSource is an empty event log: the fan-out benchmark has no gaps.
type benchSource struct{}

func (benchSource) Head(context.Context, string) (int64, error) { return 0, nil }
func (benchSource) Heads(context.Context, []string) (map[string]int64, error) {
	return map[string]int64{}, nil
}
func (benchSource) After(context.Context, string, int64, int) ([]*broadcast.Event, error) {
	return nil, nil
}

// benchCounter is one subscriber's count of events received, on its own
// cache line so that the drainers do not slow each other down.
type benchCounter struct {
	n atomic.Int64
	_ [56]byte
}

// BenchmarkMemoryFanout publishes one event to a room of subs subscribers,
// each drained by its own goroutine as a stream's loop would. An op is one
// event delivered to every subscriber; ns/delivery divides by subs. The
// publisher keeps at most two windows of events queued, well inside the
// per-subscriber queue, so no one is dropped as slow.
func BenchmarkMemoryFanout(b *testing.B) {
	for _, subs := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) { benchFanout(b, subs) })
	}
}

func benchFanout(b *testing.B, subs int) {
	ctx := context.Background()
	h := broadcast.NewMemory(benchSource{}, slog.New(slog.DiscardHandler))
	counts := make([]benchCounter, subs)
	list := make([]*broadcast.Subscription, subs)
	var wg sync.WaitGroup
	for i := range subs {
		s, err := h.Subscribe(ctx, "room")
		if err != nil {
			b.Fatal(err)
		}
		list[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-s.Events():
					counts[i].n.Add(1)
				case <-s.Done():
					if err := s.Err(); err != broadcast.ErrClosed {
						b.Errorf("subscriber %d: %v", i, err)
					}
					return
				}
			}
		}()
	}
	frame := broadcast.Frame(1, "message.created", benchData)
	waitAll := func(n int64) {
		for i := range counts {
			for counts[i].n.Load() < n {
				select {
				case <-list[i].Done():
					b.Fatalf("subscriber %d dropped: %v", i, list[i].Err())
				default:
					runtime.Gosched()
				}
			}
		}
	}
	const window = 64
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		seq := int64(i + 1)
		if err := h.Publish(ctx, &broadcast.Event{Room: "room", Seq: seq, Type: "message.created", Frame: frame}); err != nil {
			b.Fatal(err)
		}
		if seq%window == 0 {
			waitAll(seq - window)
		}
	}
	waitAll(int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(subs), "ns/delivery")
	h.Close()
	wg.Wait()
}
