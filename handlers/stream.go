package handlers

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/broadcast"
	"github.com/resonate/resonate-chat/models"
)

const (
	streamRoute = "/api/v1/rooms/:room/events"
	ticketRoute = "/api/v1/rooms/:room/stream-ticket"
)

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
	hangups *hangups
	// streams counts the open streams, which net/http no longer tracks once
	// it has handed their connections over.
	streams *sync.WaitGroup
}

// streamTicket godoc
//
//	@Summary		Get a stream ticket
//	@Description	Participants and admins. A browser `EventSource` cannot send headers, and long-lived tokens must not travel in URLs: open the stream with `?ticket=` instead. The ticket is bound to the caller and this room and opens streams (and EventSource's automatic reconnects) for 60 s; the stream itself lives until the token that got the ticket expires. Other calls accept a token up to 30 s past its `exp` (a leeway for clock skew); this one does not, as a ticket from an expired token could open no stream: refresh the token first.
//	@Tags			stream
//	@Produce		json
//	@Param			room	path		string	true	"room id"
//	@Success		201		{object}	api.StreamTicket
//	@Failure		400		{object}	api.Problem	"invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized: missing or bad credentials, or a token past its exp (no leeway here)"
//	@Failure		403		{object}	api.Problem	"not_participant, banned"
//	@Failure		404		{object}	api.Problem	"not_found"
//	@Failure		429		{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
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
//	@Description	Participants and admins; `text/event-stream`. Authenticate with `Authorization: Bearer` or `?ticket=` (see stream-ticket). Every room event is `id: <seq>`, `event: <type>`, one `data:` line with the JSON envelope `{type, room_id, seq, timestamp, data}`. Resume with `Last-Event-ID` (browsers send it by themselves) or `?last_event_id=`: every retained event after it, in order, then live ones; `history.reset` first when events after it were deleted by retention. Without a resume point the stream starts with live events. The stream ends after `room.closed`, after the caller's own `participant.left` or `user.banned` (never an admin's: admins cannot be banned or kicked), and with `auth.expired` when the credential expires. Other calls accept a token up to 30 s past its `exp` (a leeway for clock skew); a stream does not open with one (401), since it would end at once: refresh the token first. See docs/EVENTS.md for every event.
//	@Tags			stream
//	@Produce		text/event-stream
//	@Param			room			path		string	true	"room id"
//	@Param			Last-Event-ID	header		int		false	"resume after this seq"
//	@Param			last_event_id	query		int		false	"resume after this seq (when the header cannot be set)"
//	@Param			ticket			query		string	false	"a stream ticket, instead of the Authorization header"
//	@Success		200				{string}	string	"the event stream"
//	@Failure		400				{object}	api.Problem	"invalid"
//	@Failure		401				{object}	api.Problem	"unauthorized: missing or bad credentials, or a token past its exp (no leeway here)"
//	@Failure		403				{object}	api.Problem	"not_participant, banned"
//	@Failure		404				{object}	api.Problem	"not_found"
//	@Failure		429				{object}	api.Problem	"rate_limited: too many open streams for this user, from this address, or on this server; or too many tokens from this address needed the identity provider and were refused"
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
	authHead, err := h.chat.OpenStream(ctx, id.Actor, room)
	if err != nil {
		leave()
		fail(c, err)
		return
	}
	sub, err := h.hub.Subscribe(ctx, room)
	if err != nil {
		leave()
		fail(c, err)
		return
	}
	conn, err := takeOver(c, h.opts.WriteTimeout)
	if err != nil {
		sub.Close()
		leave()
		if !errors.Is(err, errGoneAtOpen) { // nothing to answer on a connection already taken over
			fail(c, err)
		}
		return
	}
	s := &sse{conn: conn, timeout: h.opts.WriteTimeout, room: room, user: id.Actor.UserID, admin: id.Actor.Admin, authHead: authHead, m: h.m,
		log: logger(c), interval: h.opts.FlushInterval}
	gone, unwatch := h.hangups.watch(conn)
	h.m.OpenStreams.Inc()
	h.streams.Add(1)
	started := time.Now()
	end := func(why streamEnd) {
		sub.Close()
		unwatch()
		_ = conn.Close()
		leave()
		h.m.OpenStreams.Dec()
		// A dropped subscriber often ends on its write deadline rather than
		// on Done (it is stuck writing), so count the drop on every end.
		if errors.Is(sub.Err(), broadcast.ErrSlow) {
			h.m.SlowDrops.Inc()
			why = endDropped
		}
		s.log.Info("stream ended", "room", room, "reason", string(why), "duration", time.Since(started), "last_seq", s.last)
		h.streams.Done()
	}
	if s.write(broadcast.Retry(h.opts.Retry.Milliseconds())) != nil {
		end(endWrite)
		return
	}
	l := &loop{sub: sub, quit: h.quit, hangup: gone, heartbeat: h.opts.Heartbeat}
	if !id.Expires.IsZero() {
		l.deadlines.expiry = id.Expires
	}
	ended, err := s.replay(ctx, h.log, resume)
	switch {
	case errors.Is(err, models.ErrNotFound):
		// The room closed while the stream was opening. Its room.closed is
		// on the subscription unless it was published before the
		// subscription began: pass it on if it comes, and end either way.
		l.deadlines.closing = time.Now().Add(closeGrace)
	case err != nil:
		s.log.Info("stream replay ended", "room", room, "err", err)
		end(endWrite)
		return
	case ended:
		end(endRoom)
		return
	}
	// The request is over for net/http and gin; the stream goes on in a
	// goroutine of its own, which starts with a small stack.
	go func() {
		why := endWrite
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("stream panicked", "room", room, "panic", r)
			}
			end(why)
		}()
		why = s.run(l)
	}()
}

// takeOver takes the stream's connection from net/http and writes the
// response head on it: the stream then needs neither net/http's per
// connection reader goroutine nor its buffers. The head carries the headers
// the middleware set; the body is the rest of the connection.
func takeOver(c *gin.Context, timeout time.Duration) (net.Conn, error) {
	if c.Request.ProtoMajor != 1 {
		return nil, models.WithDetail(models.ErrInvalid, "streams need HTTP/1.1")
	}
	conn, rw, err := http.NewResponseController(c.Writer).Hijack()
	if err != nil {
		return nil, err
	}
	hd := c.Writer.Header().Clone()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache, no-store") // no-cache for proxies that know SSE, no-store as every authenticated answer
	hd.Set("X-Accel-Buffering", "no")
	hd.Set("Connection", "close") // the body ends with the connection
	hd.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	w := rw.Writer
	_, _ = w.WriteString("HTTP/1.1 200 OK\r\n")
	_ = hd.Write(w)
	_, _ = w.WriteString("\r\n")
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if err := w.Flush(); err != nil {
		conn.Close()
		return nil, errGoneAtOpen
	}
	return conn, nil
}

// errGoneAtOpen is a client that went away before the response head reached
// it.
var errGoneAtOpen = errors.New("client gone before the stream opened")

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
