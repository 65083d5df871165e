package handlers

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// pinService is what the pin handlers need of the use cases.
type pinService interface {
	Pin(ctx context.Context, a models.Actor, room, msgID string) (*models.Room, error)
	Unpin(ctx context.Context, a models.Actor, room string) error
}

type pinHandlers struct {
	chat pinService
}

// pin godoc
//
//	@Summary		Pin a message
//	@Description	Moderator, owner or admin, not muted. Pins a message of the room, replacing the pinned one if any; the room's `pinned` is then that message. Pinning the message already pinned answers the same and sends no event. Streams get `room.pinned`. A pinned message is kept while pinned, even past retention; deleting it unpins it.
//	@Tags			moderation
//	@Accept			json
//	@Produce		json
//	@Param			room	path		string			true	"room id"
//	@Param			body	body		api.PinRequest	true	"the message to pin"
//	@Success		200		{object}	api.Room
//	@Failure		400		{object}	api.Problem	"invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		403		{object}	api.Problem	"forbidden, not_participant, banned, muted"
//	@Failure		404		{object}	api.Problem	"not_found: no such room, or no such message in it, or the message was deleted"
//	@Failure		413		{object}	api.Problem	"too_large"
//	@Failure		415		{object}	api.Problem	"unsupported_media_type"
//	@Failure		429		{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/pin [put]
func (h pinHandlers) pin(c *gin.Context) {
	var req api.PinRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	room, err := h.chat.Pin(c.Request.Context(), actor(c), c.Param("room"), req.MessageID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.NewRoom(room))
}

// unpin godoc
//
//	@Summary		Unpin the pinned message
//	@Description	Moderator, owner or admin, not muted. Removes the room's pin; idempotent (nothing pinned: 204 and no event). Streams get `room.pinned` with a null message.
//	@Tags			moderation
//	@Param			room	path	string	true	"room id"
//	@Success		204
//	@Failure		400	{object}	api.Problem	"invalid"
//	@Failure		401	{object}	api.Problem	"unauthorized"
//	@Failure		403	{object}	api.Problem	"forbidden, not_participant, banned, muted"
//	@Failure		404	{object}	api.Problem	"not_found"
//	@Failure		429	{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503	{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/pin [delete]
func (h pinHandlers) unpin(c *gin.Context) {
	respondEmpty(c, h.chat.Unpin(c.Request.Context(), actor(c), c.Param("room")))
}
