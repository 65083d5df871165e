package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/broadcast"
	"github.com/resonate/resonate-chat/handlers/identity"
	"github.com/resonate/resonate-chat/models"
	"github.com/resonate/resonate-chat/server"
)

// benchServer is the server main builds, on a fresh SQLite file,
// logging at info to nowhere (so the per-request log line is still built).
type benchServer struct {
	srv    *server.Server
	chat   *models.Chat
	hub    broadcast.Broadcaster
	signer *identity.HS256
}

func newBenchServer(b *testing.B) *benchServer {
	b.Helper()
	secret := []byte(strings.Repeat("s", 32))
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := server.New(context.Background(), server.Config{DB: filepath.Join(b.TempDir(), "bench.db"), Secret: secret,
		Chat: models.Options{HistoryLimit: 100, MaxMessageLength: 2000}, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		srv.StopStreams()
		srv.Close()
	})
	return &benchServer{srv: srv, chat: srv.Chat, hub: srv.Broadcaster, signer: identity.NewHS256(secret)}
}

func (s *benchServer) token(b *testing.B, user string, admin bool) string {
	tok, err := s.signer.Sign(user, user, admin, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// BenchmarkPostMessage is one POST /messages through the whole router, with
// no network: request log, metrics, token check, binding, the send use case,
// the JSON answer. The difference from models' BenchmarkSend is the HTTP
// layer's cost.
func BenchmarkPostMessage(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		b.Run(mode, func(b *testing.B) {
			s := newBenchServer(b)
			ctx := context.Background()
			const rooms, users = 10, 32
			tokens := make([]string, users)
			for r := range rooms {
				if _, _, err := s.chat.CreateRoom(ctx, models.Actor{UserID: "owner"}, fmt.Sprintf("bench-%d", r), "bench"); err != nil {
					b.Fatal(err)
				}
			}
			for u := range users {
				tokens[u] = s.token(b, fmt.Sprintf("user-%d", u), false)
				if _, _, err := s.chat.Join(ctx, models.Actor{UserID: fmt.Sprintf("user-%d", u)}, fmt.Sprintf("bench-%d", u%rooms)); err != nil {
					b.Fatal(err)
				}
			}
			post := func(u, i int) {
				body := fmt.Sprintf(`{"content":"t=1764061323456789012 s=0 %s","client_id":"c-%d-%d"}`, strings.Repeat("x", 84), u, i)
				req := httptest.NewRequest("POST", fmt.Sprintf("/api/v1/rooms/bench-%d/messages", u%rooms), strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tokens[u])
				w := httptest.NewRecorder()
				s.srv.ServeHTTP(w, req)
				if w.Code != http.StatusCreated {
					b.Errorf("status %d: %s", w.Code, w.Body)
				}
			}
			b.ReportAllocs()
			if mode == "serial" {
				i := 0
				for b.Loop() {
					post(i%users, i)
					i++
				}
				return
			}
			var next atomic.Int64
			b.SetParallelism(16) // 32 publishers on two cores, as in W3
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				u := int(next.Add(1)) % users
				for i := 0; pb.Next(); i++ {
					post(u, i)
				}
			})
		})
	}
}

// BenchmarkVerifyHS256 is the token check every REST call pays.
func BenchmarkVerifyHS256(b *testing.B) {
	v := identity.NewHS256([]byte(strings.Repeat("s", 32)))
	tok, err := v.Sign("user-1", "User 1", false, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), tok, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamFanout publishes events to a room with n open SSE streams
// over real loopback TCP and waits until every stream has read them: the
// stream loop's cost per delivery (deadline, write, flush, syscall) with the
// hub in front. The readers only count id lines. An op is one event delivered
// to every stream; ns/delivery divides by n.
func BenchmarkStreamFanout(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) { benchStreamFanout(b, n) })
	}
}

func benchStreamFanout(b *testing.B, n int) {
	s := newBenchServer(b)
	ctx := context.Background()
	const room = "bench-fanout"
	if _, _, err := s.chat.CreateRoom(ctx, models.Actor{UserID: "owner"}, room, "bench"); err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(s.srv)
	b.Cleanup(ts.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	admin := s.token(b, "bench-admin", true) // an admin streams any room without joining

	counts := make([]atomic.Int64, n)
	ended := make([]atomic.Bool, n)
	var wg sync.WaitGroup
	streamCtx, cancel := context.WithCancel(ctx)
	b.Cleanup(func() { cancel(); wg.Wait() })
	for i := range n {
		req, _ := http.NewRequestWithContext(streamCtx, "GET", ts.URL+"/api/v1/rooms/"+room+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("stream %d: status %d", i, resp.StatusCode)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ended[i].Store(true)
			defer resp.Body.Close()
			br := bufio.NewReaderSize(resp.Body, 16<<10)
			for {
				line, err := br.ReadSlice('\n')
				if err != nil && err != bufio.ErrBufferFull {
					return
				}
				if bytes.HasPrefix(line, []byte("id: ")) {
					counts[i].Add(1)
				}
			}
		}()
	}
	// Seqs continue from the room's head: the create's participant.joined.
	const first = int64(2)
	data := []byte(`{"type":"message.created","room_id":"bench-fanout","seq":0,"timestamp":"2026-11-25T09:02:03.456789Z",` +
		`"data":{"id":"k7x2m4q9v3n8p1r5t6w0y2z4ab","room_id":"bench-fanout","seq":0,"sender_id":"p3","sender_name":"p3",` +
		`"content":"t=1764061323456789012 s=0 ` + strings.Repeat("x", 84) + `","timestamp":"2026-11-25T09:02:03.456789Z",` +
		`"edited_at":null,"reply_to":null,"is_deleted":false,"client_id":"p3-1"}}`)
	waitAll := func(k int64) {
		for i := range counts {
			for counts[i].Load() < k {
				if ended[i].Load() {
					b.Fatalf("stream %d ended after %d events", i, counts[i].Load())
				}
				runtime.Gosched()
			}
		}
	}
	const window = 64
	b.ResetTimer()
	for i := range b.N {
		seq := first + int64(i)
		ev := &broadcast.Event{Room: room, Seq: seq, Type: "message.created", Frame: broadcast.Frame(seq, "message.created", data)}
		if err := s.hub.Publish(ctx, ev); err != nil {
			b.Fatal(err)
		}
		if k := int64(i + 1); k%window == 0 {
			waitAll(k - window)
		}
	}
	waitAll(int64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
}
