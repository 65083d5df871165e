package handlers

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// reactionService is what the reaction handlers need of the use cases.
type reactionService interface {
	React(ctx context.Context, a models.Actor, room, id, emoji string) ([]models.Reaction, error)
	Unreact(ctx context.Context, a models.Actor, room, id, emoji string) error
	ClearReactions(ctx context.Context, a models.Actor, room, id string) error
}

type reactionHandlers struct {
	chat reactionService
}

// react godoc
//
//	@Summary		React to a message
//	@Description	Participants (and admins). Adds the caller's reaction; idempotent. `{emoji}` (path-escaped) is one emoji: a single grapheme cluster made of emoji (ZWJ sequences, skin tones, flags and keycaps included), at most 32 bytes. A message holds at most 20 distinct emoji. Checked like a send (mute, chat lock) but not slow mode; reactions have their own flood limit (`CHAT_REACTION_RATE`). Streams get the new tally in a `message.reactions` event, at most about one a second per message.
//	@Tags			reactions
//	@Produce		json
//	@Param			room	path		string	true	"room id"
//	@Param			id		path		string	true	"message id"
//	@Param			emoji	path		string	true	"one emoji, path-escaped"	example(👍)
//	@Success		200		{object}	api.MessageReactions
//	@Failure		400		{object}	api.Problem	"invalid: not one emoji of at most 32 bytes"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		403		{object}	api.Problem	"not_participant, banned, muted, chat_locked"
//	@Failure		404		{object}	api.Problem	"not_found: no such room or message, or the message was deleted"
//	@Failure		409		{object}	api.Problem	"conflict: the message already holds 20 distinct emoji"
//	@Failure		429		{object}	api.Problem	"rate_limited: the reaction flood limit, or too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/messages/{id}/reactions/{emoji} [put]
func (h reactionHandlers) react(c *gin.Context) {
	id := c.Param("id")
	rs, err := h.chat.React(c.Request.Context(), actor(c), c.Param("room"), id, c.Param("emoji"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.MessageReactions{MessageID: id, Reactions: api.NewReactions(rs, true)})
}

// unreact godoc
//
//	@Summary		Remove one's reaction
//	@Description	Participants (and admins). Removes the caller's own reaction with `{emoji}`; idempotent. Checked like a send (mute, chat lock) and counted by the reaction flood limit when it removes something.
//	@Tags			reactions
//	@Param			room	path	string	true	"room id"
//	@Param			id		path	string	true	"message id"
//	@Param			emoji	path	string	true	"one emoji, path-escaped"	example(👍)
//	@Success		204
//	@Failure		400	{object}	api.Problem	"invalid"
//	@Failure		401	{object}	api.Problem	"unauthorized"
//	@Failure		403	{object}	api.Problem	"not_participant, banned, muted, chat_locked"
//	@Failure		404	{object}	api.Problem	"not_found"
//	@Failure		429	{object}	api.Problem	"rate_limited: the reaction flood limit, or too many tokens from this address needed the identity provider and were refused"
//	@Failure		503	{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/messages/{id}/reactions/{emoji} [delete]
func (h reactionHandlers) unreact(c *gin.Context) {
	respondEmpty(c, h.chat.Unreact(c.Request.Context(), actor(c), c.Param("room"), c.Param("id"), c.Param("emoji")))
}

// clearReactions godoc
//
//	@Summary		Clear a message's reactions
//	@Description	A moderator, owner or admin who outranks the message's sender (or is the sender), as for deleting it. Removes every reaction; idempotent.
//	@Tags			reactions
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
//	@Router			/rooms/{room}/messages/{id}/reactions [delete]
func (h reactionHandlers) clearReactions(c *gin.Context) {
	respondEmpty(c, h.chat.ClearReactions(c.Request.Context(), actor(c), c.Param("room"), c.Param("id")))
}
