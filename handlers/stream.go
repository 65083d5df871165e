package handlers

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/broadcast"
	"github.com/resonate/resonate-chat/models"
)

const streamRoute = "/api/v1/rooms/:room/events"

// replayBatch is how many logged events one read of a replay takes: a whole
// room's retained history in a few reads, without holding a big slice.
const replayBatch = 256

// shutdownRetry is the reconnection delay streams get when the server stops,
// so clients move to another node at once.
const shutdownRetry = 250 * time.Millisecond

// closeGrace is how long a stream whose room closed while it was opening waits
// for the room.closed event: it is published right after its commit, which
// the replay has already seen, so a second is ample.
const closeGrace = time.Second

// streamService is what the stream handlers need of the use cases.
type streamService interface {
	OpenStream(ctx context.Context, a models.Actor, room string) (int64, error)
}

// eventLog is the stream's view of the event log, for replays.
type eventLog interface {
	EventsAfter(ctx context.Context, room string, after int64, limit int) (*models.Replay, error)
}

type streamHandlers struct {
	chat    streamService
	log     eventLog
	hub     broadcast.Broadcaster
	tickets *Tickets
	m       *Metrics
	opts    StreamOptions
	quit    <-chan struct{}
	gate    *streamGate
}

// streamTicket godoc
//
//	@Summary		Get a stream ticket
//	@Description	Participants and admins. A browser `EventSource` cannot send headers, and long-lived tokens must not travel in URLs: open the stream with `?ticket=` instead. The ticket is bound to the caller and this room and opens streams (and EventSource's automatic reconnects) for 60 s; the stream itself lives until the token that got the ticket expires.
//	@Tags			stream
//	@Produce		json
//	@Param			room	path		string	true	"room id"
//	@Success		201		{object}	api.StreamTicket
//	@Failure		400		{object}	api.Problem	"invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		403		{object}	api.Problem	"not_participant, banned"
//	@Failure		404		{object}	api.Problem	"not_found"
//	@Failure		429		{object}	api.Problem	"rate_limited: too many requests with bad credentials from this address"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/stream-ticket [post]
func (h *streamHandlers) ticket(c *gin.Context) {
	id := identity(c)
	if _, err := h.chat.OpenStream(c.Request.Context(), id.Actor, c.Param("room")); err != nil {
		fail(c, err)
		return
	}
	t, exp, err := h.tickets.Issue(id, c.Param("room"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, api.StreamTicket{Ticket: t, ExpiresAt: exp.UTC().Format(api.TimeFormat)})
}

// stream godoc
//
//	@Summary		Stream the room's events (SSE)
//	@Description	Participants and admins; `text/event-stream`. Authenticate with `Authorization: Bearer` or `?ticket=` (see stream-ticket). Every room event is `id: <seq>`, `event: <type>`, one `data:` line with the JSON envelope `{type, room_id, seq, timestamp, data}`. Resume with `Last-Event-ID` (browsers send it by themselves) or `?last_event_id=`: every retained event after it, in order, then live ones; `history.reset` first when events after it were deleted by retention. Without a resume point the stream starts with live events. The stream ends after `room.closed`, after the caller's own `participant.left` or `user.banned`, and with `auth.expired` when the credential expires. See docs/EVENTS.md for every event.
//	@Tags			stream
//	@Produce		text/event-stream
//	@Param			room			path		string	true	"room id"
//	@Param			Last-Event-ID	header		int		false	"resume after this seq"
//	@Param			last_event_id	query		int		false	"resume after this seq (when the header cannot be set)"
//	@Param			ticket			query		string	false	"a stream ticket, instead of the Authorization header"
//	@Success		200				{string}	string	"the event stream"
//	@Failure		400				{object}	api.Problem	"invalid"
//	@Failure		401				{object}	api.Problem	"unauthorized"
//	@Failure		403				{object}	api.Problem	"not_participant, banned"
//	@Failure		404				{object}	api.Problem	"not_found"
//	@Failure		429				{object}	api.Problem	"rate_limited: too many open streams for this user, from this address, or on this server; or too many requests with bad credentials from this address"
//	@Failure		503				{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/events [get]
func (h *streamHandlers) stream(c *gin.Context) {
	ctx, room, id := c.Request.Context(), c.Param("room"), identity(c)
	resume, err := resumePoint(c)
	if err != nil {
		fail(c, err)
		return
	}
	leave, err := h.gate.enter(id.Actor.UserID, clientKey(c))
	if err != nil {
		fail(c, err)
		return
	}
	defer leave()
	authHead, err := h.chat.OpenStream(ctx, id.Actor, room)
	if err != nil {
		fail(c, err)
		return
	}
	sub, err := h.hub.Subscribe(ctx, room)
	if err != nil {
		fail(c, err)
		return
	}
	defer sub.Close()
	// A dropped subscriber often ends on its write deadline rather than in the
	// Done case below (it is stuck writing), so count the drop on every exit.
	defer func() {
		if errors.Is(sub.Err(), broadcast.ErrSlow) {
			h.m.SlowDrops.Inc()
		}
	}()
	h.m.OpenStreams.Inc()
	defer h.m.OpenStreams.Dec()

	s := &sse{c: c, rc: http.NewResponseController(c.Writer), timeout: h.opts.WriteTimeout, room: room,
		user: id.Actor.UserID, authHead: authHead, m: h.m, interval: h.opts.FlushInterval}
	hd := c.Writer.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache, no-store") // no-cache for proxies that know SSE, no-store as every authenticated answer
	hd.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	if s.write(broadcast.Retry(h.opts.Retry.Milliseconds())) != nil {
		return
	}
	ended, err := s.replay(ctx, h.log, resume)
	var closing <-chan time.Time
	switch {
	case errors.Is(err, models.ErrNotFound):
		// The room closed while the stream was opening. Its room.closed is
		// on the subscription unless it was published before the
		// subscription began: pass it on if it comes, and end either way.
		closing = time.After(closeGrace)
	case err != nil:
		logger(c).Info("stream replay ended", "room", room, "err", err)
		return
	case ended:
		return
	}
	heartbeat := time.NewTicker(h.opts.Heartbeat)
	defer heartbeat.Stop()
	expiry := time.NewTimer(time.Until(id.Expires))
	defer expiry.Stop()
	// flushC is set while a flush is due; meanwhile the stream does not
	// wake for events, which queue up and go out together when it fires.
	var flushC <-chan time.Time
	flushTimer := time.NewTimer(time.Hour)
	flushTimer.Stop()
	defer flushTimer.Stop()
	done, events := ctx.Done(), sub.Events()
	for {
		wake := events
		if flushC != nil {
			wake = nil
		}
		select {
		case <-done:
			return
		case <-h.quit:
			_ = s.write(broadcast.Retry(shutdownRetry.Milliseconds()))
			return
		case <-sub.Done():
			return
		case <-closing:
			return
		case <-expiry.C:
			_ = s.local(models.EventAuthExpired, nil)
			return
		case <-heartbeat.C:
			if s.write(broadcast.Comment("ping")) != nil {
				return
			}
		case <-flushC:
			n, ended, err := s.live(nil, events)
			if err == nil {
				err = s.flush()
			}
			if ended || err != nil {
				return
			}
			// While the room stays busy, keep sleeping through events and
			// write them once per interval; an empty interval ends that.
			flushC = nil
			if n > 0 {
				flushTimer.Reset(s.interval)
				flushC = flushTimer.C
			}
		case ev := <-wake:
			_, ended, err := s.live(ev, events)
			if ended || err != nil {
				_ = s.flush()
				return
			}
			if wait := s.flushDue(); wait > 0 {
				flushTimer.Reset(wait)
				flushC = flushTimer.C
			} else if s.flush() != nil {
				return
			}
		}
	}
}

// resumePoint reads Last-Event-ID, or else ?last_event_id=; nil for none.
func resumePoint(c *gin.Context) (*int64, error) {
	v, from := c.GetHeader("Last-Event-ID"), "Last-Event-ID"
	if v == "" {
		var ok bool
		if v, ok = c.GetQuery("last_event_id"); !ok {
			return nil, nil
		}
		from = "last_event_id"
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n == math.MaxInt64 {
		return nil, models.Invalidf("%s must be a seq: an integer ≥ 0", from)
	}
	return &n, nil
}
