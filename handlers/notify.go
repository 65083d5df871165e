package handlers

import (
	"context"
	"log/slog"

	"github.com/resonate/resonate-chat/broadcast"
	"github.com/resonate/resonate-chat/handlers/stream"
	"github.com/resonate/resonate-chat/models"
)

var _ models.Notifier = (*Notifier)(nil)

// Notifier hands committed events to the broadcaster, framed once for every
// stream.
type Notifier struct {
	b   broadcast.Broadcaster
	m   *Metrics
	log *slog.Logger
}

// NewNotifier returns the models.Notifier over b.
func NewNotifier(b broadcast.Broadcaster, m *Metrics, log *slog.Logger) *Notifier {
	return &Notifier{b: b, m: m, log: log}
}

// Notify implements models.Notifier. A failure is logged, not returned: the
// events are committed and streams recover them from the log.
func (n *Notifier) Notify(ctx context.Context, evs []*models.Event) {
	for _, ev := range evs {
		end := models.EndsStreams(ev.Type, ev.TargetID)
		be := &broadcast.Event{Room: ev.RoomID, Seq: ev.Seq, Type: ev.Type, EndsAll: end.All, EndsUser: end.User,
			Frame: broadcast.Frame(ev.Seq, ev.Type, ev.Data)}
		if err := n.b.Publish(ctx, be); err != nil {
			n.m.PublishErrors.Inc()
			n.log.Warn("publish failed; streams will catch up from the log", "room", ev.RoomID, "seq", ev.Seq, "err", err)
			continue
		}
		n.m.Published.Inc()
	}
}

// EventSource is the broadcaster's view of the event log.
type EventSource struct{ Store *models.Store }

var _ broadcast.Source = EventSource{}

// Head implements broadcast.Source.
func (s EventSource) Head(ctx context.Context, room string) (int64, error) {
	return s.Store.Head(ctx, room)
}

// Heads implements broadcast.Source.
func (s EventSource) Heads(ctx context.Context, rooms []string) (map[string]int64, error) {
	return s.Store.Heads(ctx, rooms)
}

// After implements broadcast.Source.
func (s EventSource) After(ctx context.Context, room string, after int64, limit int) ([]*broadcast.Event, error) {
	r, err := s.Store.EventsAfter(ctx, room, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*broadcast.Event, len(r.Events))
	for i := range r.Events {
		out[i] = stream.Frame(&r.Events[i])
	}
	return out, nil
}
