package models_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// benchNotifier drops events: these benchmarks measure the store, not the hub.
type benchNotifier struct{}

func (benchNotifier) Notify(context.Context, []*models.Event) {}

// benchRooms and benchUsers shape the send benchmarks like W3: ten rooms, a
// few dozen posting participants.
const (
	benchRooms = 10
	benchUsers = 32
)

// benchChat opens a fresh SQLite file with the production settings and fills
// each room past its history limit, so that every measured send also prunes,
// as it does in a busy room.
func benchChat(b *testing.B) *models.Chat {
	b.Helper()
	ctx := context.Background()
	store, err := models.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), models.OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	chat := models.NewChat(store, api.EncodeEvent, benchNotifier{},
		models.Options{HistoryLimit: 100, MaxMessageLength: 2000})
	for r := range benchRooms {
		room := fmt.Sprintf("bench-%d", r)
		if _, _, err := chat.CreateRoom(ctx, models.Actor{UserID: "owner"}, room, "bench"); err != nil {
			b.Fatal(err)
		}
		for u := range benchUsers {
			if _, _, err := chat.Join(ctx, benchUser(u), room); err != nil {
				b.Fatal(err)
			}
		}
		for i := range 110 {
			if _, _, err := chat.Send(ctx, benchUser(i%benchUsers), room, models.SendInput{Content: "warm-up"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	return chat
}

func benchUser(u int) models.Actor {
	return models.Actor{UserID: fmt.Sprintf("user-%d", u), Name: fmt.Sprintf("User %d", u)}
}

// benchContent is 110 bytes, the workloads' message size.
var benchContent = "t=1764061323456789012 s=0 " + strings.Repeat("x", 84)

// BenchmarkSend is one message through the whole send use case: the rules
// (participant, ban, mute, flood state), the client_id check, the seq, the
// message and event rows, retention, commit. Serial is one publisher; parallel
// is 32 concurrent publishers over ten rooms (W3's shape), which queue for the
// single SQLite writer.
func BenchmarkSend(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		chat := benchChat(b)
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			id := fmt.Sprintf("serial-%d", i)
			u := i % benchUsers
			if _, _, err := chat.Send(ctx, benchUser(u), fmt.Sprintf("bench-%d", u%benchRooms),
				models.SendInput{Content: benchContent, ClientID: &id}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		chat := benchChat(b)
		ctx := context.Background()
		var next atomic.Int64
		b.ReportAllocs()
		// 16 × GOMAXPROCS goroutines: 32 publishers on this 2-core machine.
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			w := int(next.Add(1))
			u := w % benchUsers
			actor, room := benchUser(u), fmt.Sprintf("bench-%d", u%benchRooms)
			for i := 0; pb.Next(); i++ {
				id := fmt.Sprintf("par-%d-%d", w, i)
				if _, _, err := chat.Send(ctx, actor, room, models.SendInput{Content: benchContent, ClientID: &id}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
