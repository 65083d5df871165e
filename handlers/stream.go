package handlers

import (
	"context"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers/identity"
	"github.com/resonate/resonate-chat/handlers/stream"
	"github.com/resonate/resonate-chat/models"
)

const (
	streamRoute = "/api/v1/rooms/:room/events"
	ticketRoute = "/api/v1/rooms/:room/stream-ticket"
)

// streamService is what the ticket handler needs of the use cases.
type streamService interface {
	OpenStream(ctx context.Context, a models.Actor, room string) (int64, error)
}

// streamHandlers issue stream tickets and hand stream requests to the
// stream package, which serves them.
type streamHandlers struct {
	chat    streamService
	tickets *identity.Tickets
	streams *stream.Streams
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
	id := caller(c)
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
	resume, err := resumePoint(c)
	if err != nil {
		fail(c, err)
		return
	}
	id := caller(c)
	req := stream.Request{Room: c.Param("room"), Actor: id.Actor, Expires: id.Expires, Resume: resume, Client: clientKey(c), Log: logger(c)}
	if err := h.streams.Serve(c.Writer, c.Request, req); err != nil {
		fail(c, err)
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
