package handlers

import (
	"context"
	"math"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// messageService is what the message handlers need of the use cases.
type messageService interface {
	Send(ctx context.Context, a models.Actor, room string, in models.SendInput) (*models.Message, bool, error)
	History(ctx context.Context, a models.Actor, room string, q models.HistoryQuery) (*models.HistoryPage, error)
	GetMessage(ctx context.Context, a models.Actor, room, id string) (*models.Message, error)
	Edit(ctx context.Context, a models.Actor, room, id, content string, mentions []string) (*models.Message, error)
	DeleteMessage(ctx context.Context, a models.Actor, room, id string) error
}

type messageHandlers struct {
	chat messageService
}

// send godoc
//
//	@Summary		Send a message
//	@Description	Participants (and admins). Content: CR LF and CR become LF, other control characters are refused, white space is trimmed, 1–2000 code points. With a `client_id` the sender already used here: 200 with the original and nothing broadcast; other content with it is a 409. Moderators and above are exempt from the chat lock, slow mode and the flood limit. `mentions`: user ids of participants of the room, at most 20 distinct (repeats are folded), else a 400 naming the id; with a webhook configured, each user mentioned but the sender gets a `message.mentioned` notification.
//	@Tags			messages
//	@Accept			json
//	@Produce		json
//	@Param			room	path		string					true	"room id"
//	@Param			body	body		api.SendMessageRequest	true	"the message"
//	@Success		201		{object}	api.RoomMessage
//	@Success		200		{object}	api.RoomMessage	"a retry: the original message"
//	@Failure		400		{object}	api.Problem		"invalid (a bad client_id, reply_to or mentions), content_empty, content_too_long, content_invalid"
//	@Failure		401		{object}	api.Problem		"unauthorized"
//	@Failure		403		{object}	api.Problem		"not_participant, banned, muted, chat_locked"
//	@Failure		404		{object}	api.Problem		"not_found"
//	@Failure		409		{object}	api.Problem		"conflict: client_id used for other content"
//	@Failure		413		{object}	api.Problem		"too_large"
//	@Failure		415		{object}	api.Problem		"unsupported_media_type"
//	@Failure		429		{object}	api.Problem		"rate_limited: the flood limit or slow mode, or too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem		"unavailable"
//	@Header			429,503	{integer}	Retry-After		"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/messages [post]
func (h messageHandlers) send(c *gin.Context) {
	var req api.SendMessageRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	in := models.SendInput{Content: string(req.Content), ClientID: req.ClientID, ReplyTo: req.ReplyTo, Mentions: req.Mentions}
	m, isNew, err := h.chat.Send(c.Request.Context(), actor(c), c.Param("room"), in)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(created(isNew), api.NewMessage(m))
}

// history godoc
//
//	@Summary		Read history
//	@Description	Participants and admins. Newest first; with `after`, oldest first. `head_seq` is the room's newest event seq when the page was read: open the stream with `Last-Event-ID: head_seq` to miss nothing and get nothing twice. A malformed or out-of-range value is a 400, never clamped.
//	@Tags			messages
//	@Produce		json
//	@Param			room	path		string	true	"room id"
//	@Param			limit	query		int		false	"page size, 1–100"	default(50)	minimum(1)	maximum(100)
//	@Param			before	query		int		false	"only messages with seq below this"	minimum(1)
//	@Param			after	query		int		false	"only messages with seq above this (oldest first)"	minimum(0)
//	@Success		200		{object}	api.HistoryPage
//	@Failure		400		{object}	api.Problem	"invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		403		{object}	api.Problem	"not_participant, banned"
//	@Failure		404		{object}	api.Problem	"not_found"
//	@Failure		429		{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/messages [get]
func (h messageHandlers) history(c *gin.Context) {
	q, err := historyQuery(c)
	if err != nil {
		fail(c, err)
		return
	}
	page, err := h.chat.History(c.Request.Context(), actor(c), c.Param("room"), q)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.NewHistoryPage(page))
}

func historyQuery(c *gin.Context) (models.HistoryQuery, error) {
	var q models.HistoryQuery
	limit, err := queryInt(c, "limit", 1, models.MaxPageSize)
	if err != nil {
		return q, err
	}
	if limit != nil {
		q.Limit = int(*limit)
	}
	if q.Before, err = queryInt(c, "before", 1, math.MaxInt64); err != nil {
		return q, err
	}
	q.After, err = queryInt(c, "after", 0, math.MaxInt64)
	return q, err
}

// getMessage godoc
//
//	@Summary		Get one message
//	@Description	Participants and admins. A deleted message comes as its tombstone (`is_deleted: true`, empty content).
//	@Tags			messages
//	@Produce		json
//	@Param			room	path		string	true	"room id"
//	@Param			id		path		string	true	"message id"
//	@Success		200		{object}	api.RoomMessage
//	@Failure		400		{object}	api.Problem	"invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		403		{object}	api.Problem	"not_participant, banned"
//	@Failure		404		{object}	api.Problem	"not_found"
//	@Failure		429		{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/messages/{id} [get]
func (h messageHandlers) getMessage(c *gin.Context) {
	m, err := h.chat.GetMessage(c.Request.Context(), actor(c), c.Param("room"), c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.NewMessage(m))
}

// edit godoc
//
//	@Summary		Edit a message
//	@Description	The sender only. The same checks as a send (mute, chat lock, content rules, flood limit) but not slow mode. Sets `edited_at`. A deleted message is a 404. `mentions`, when given, replace the message's mentions (`[]` removes them; absent keeps them): users it mentioned before may stay though they have left, new ones must be participants, and only the new ones are notified.
//	@Tags			messages
//	@Accept			json
//	@Produce		json
//	@Param			room	path		string					true	"room id"
//	@Param			id		path		string					true	"message id"
//	@Param			body	body		api.EditMessageRequest	true	"the new content"
//	@Success		200		{object}	api.RoomMessage
//	@Failure		400		{object}	api.Problem	"invalid (a bad mentions list), content_empty, content_too_long, content_invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		403		{object}	api.Problem	"forbidden, not_participant, banned, muted, chat_locked"
//	@Failure		404		{object}	api.Problem	"not_found"
//	@Failure		413		{object}	api.Problem	"too_large"
//	@Failure		415		{object}	api.Problem	"unsupported_media_type"
//	@Failure		429		{object}	api.Problem	"rate_limited: the flood limit or slow mode, or too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/messages/{id} [patch]
func (h messageHandlers) edit(c *gin.Context) {
	var req api.EditMessageRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	m, err := h.chat.Edit(c.Request.Context(), actor(c), c.Param("room"), c.Param("id"), string(req.Content), req.Mentions)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.NewMessage(m))
}

// deleteMessage godoc
//
//	@Summary		Delete a message
//	@Description	The sender, or a moderator, owner or admin who outranks the sender. Soft delete: the message keeps its place as a tombstone and its text is gone for good, from history and from replays. Idempotent.
//	@Tags			messages
//	@Param			room	path	string	true	"room id"
//	@Param			id		path	string	true	"message id"
//	@Success		204
//	@Failure		400	{object}	api.Problem	"invalid"
//	@Failure		401	{object}	api.Problem	"unauthorized"
//	@Failure		403	{object}	api.Problem	"forbidden, not_participant, banned"
//	@Failure		404	{object}	api.Problem	"not_found"
//	@Failure		429	{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503	{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/messages/{id} [delete]
func (h messageHandlers) deleteMessage(c *gin.Context) {
	respondEmpty(c, h.chat.DeleteMessage(c.Request.Context(), actor(c), c.Param("room"), c.Param("id")))
}
