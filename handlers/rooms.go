package handlers

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// roomService is what the room handlers need of the use cases.
type roomService interface {
	CreateRoom(ctx context.Context, a models.Actor, id, name string) (*models.Room, bool, error)
	GetRoom(ctx context.Context, a models.Actor, room string) (*models.Room, error)
	Me(ctx context.Context, a models.Actor, room string) (*models.Standing, error)
	CloseRoom(ctx context.Context, a models.Actor, room string) error
	Join(ctx context.Context, a models.Actor, room string) (*models.Participant, bool, error)
	Participants(ctx context.Context, a models.Actor, room string) ([]models.Participant, error)
	RemoveParticipant(ctx context.Context, a models.Actor, room, user string) error
	SetRole(ctx context.Context, a models.Actor, room, user, role string) (*models.Participant, error)
}

type roomHandlers struct {
	chat roomService
}

// created answers 201 for a new resource and 200 for one that already was.
func created(isNew bool) int {
	if isNew {
		return http.StatusCreated
	}
	return http.StatusOK
}

// createRoom godoc
//
//	@Summary		Create a room
//	@Description	Any user. The caller becomes the owner. With an `id` that exists: 200 with the room if the caller owns it, 409 `conflict` otherwise. Without an `id` the server generates one.
//	@Tags			rooms
//	@Accept			json
//	@Produce		json
//	@Param			body	body		api.CreateRoomRequest	true	"the room"
//	@Success		201		{object}	api.Room
//	@Success		200		{object}	api.Room	"the caller already owns this room"
//	@Failure		400		{object}	api.Problem	"invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		409		{object}	api.Problem	"conflict: the id belongs to another owner"
//	@Failure		413		{object}	api.Problem	"too_large"
//	@Failure		415		{object}	api.Problem	"unsupported_media_type"
//	@Failure		429		{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms [post]
func (h roomHandlers) createRoom(c *gin.Context) {
	var req api.CreateRoomRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	room, isNew, err := h.chat.CreateRoom(c.Request.Context(), actor(c), req.ID, req.Name)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(created(isNew), api.NewRoom(room))
}

// getRoom godoc
//
//	@Summary		Get a room
//	@Description	Participants and admins.
//	@Tags			rooms
//	@Produce		json
//	@Param			room	path		string	true	"room id"
//	@Success		200		{object}	api.Room
//	@Failure		400		{object}	api.Problem	"invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		403		{object}	api.Problem	"not_participant, banned"
//	@Failure		404		{object}	api.Problem	"not_found"
//	@Failure		429		{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room} [get]
func (h roomHandlers) getRoom(c *gin.Context) {
	room, err := h.chat.GetRoom(c.Request.Context(), actor(c), c.Param("room"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.NewRoom(room))
}

// me godoc
//
//	@Summary		What the caller may do in a room
//	@Description	Any user, banned ones included (200). `can_post` and `reason` are the answer a send would get now; `reason` is an error code of the contract.
//	@Tags			rooms
//	@Produce		json
//	@Param			room	path		string	true	"room id"
//	@Success		200		{object}	api.Me
//	@Failure		400		{object}	api.Problem	"invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		404		{object}	api.Problem	"not_found"
//	@Failure		429		{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/me [get]
func (h roomHandlers) me(c *gin.Context) {
	s, err := h.chat.Me(c.Request.Context(), actor(c), c.Param("room"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.NewMe(s))
}

// closeRoom godoc
//
//	@Summary		Close a room
//	@Description	Owner or admin. Every stream gets `room.closed` and ends; the room's messages and state are deleted and later calls get 404. The id may be used again: the new room starts empty and its seq continues above the old one's.
//	@Tags			rooms
//	@Param			room	path	string	true	"room id"
//	@Success		204
//	@Failure		400	{object}	api.Problem	"invalid"
//	@Failure		401	{object}	api.Problem	"unauthorized"
//	@Failure		403	{object}	api.Problem	"forbidden, not_participant, banned"
//	@Failure		404	{object}	api.Problem	"not_found"
//	@Failure		429	{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503	{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room} [delete]
func (h roomHandlers) closeRoom(c *gin.Context) {
	respondEmpty(c, h.chat.CloseRoom(c.Request.Context(), actor(c), c.Param("room")))
}

// join godoc
//
//	@Summary		Join a room
//	@Description	Any user who is not banned. Idempotent: 201 the first time, 200 after.
//	@Tags			participants
//	@Produce		json
//	@Param			room	path		string	true	"room id"
//	@Success		201		{object}	api.Participant
//	@Success		200		{object}	api.Participant	"already a participant"
//	@Failure		400		{object}	api.Problem	"invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		403		{object}	api.Problem	"banned"
//	@Failure		404		{object}	api.Problem	"not_found"
//	@Failure		429		{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/participants [post]
func (h roomHandlers) join(c *gin.Context) {
	p, isNew, err := h.chat.Join(c.Request.Context(), actor(c), c.Param("room"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(created(isNew), api.NewParticipant(p))
}

// participants godoc
//
//	@Summary		List participants
//	@Description	Participants and admins. The owner is a participant too.
//	@Tags			participants
//	@Produce		json
//	@Param			room	path		string	true	"room id"
//	@Success		200		{object}	api.ParticipantList
//	@Failure		400		{object}	api.Problem	"invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		403		{object}	api.Problem	"not_participant, banned"
//	@Failure		404		{object}	api.Problem	"not_found"
//	@Failure		429		{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/participants [get]
func (h roomHandlers) participants(c *gin.Context) {
	ps, err := h.chat.Participants(c.Request.Context(), actor(c), c.Param("room"))
	if err != nil {
		fail(c, err)
		return
	}
	out := api.ParticipantList{Participants: make([]api.Participant, len(ps))}
	for i := range ps {
		out.Participants[i] = api.NewParticipant(&ps[i])
	}
	c.JSON(http.StatusOK, out)
}

// removeParticipant godoc
//
//	@Summary		Leave, or kick a participant
//	@Description	Yourself: leave. Someone else: a kick, by a moderator or above who outranks them (a moderator cannot kick an owner, an admin or another moderator). The user's streams end with `participant.left`; a kicked user may rejoin.
//	@Tags			participants
//	@Param			room	path	string	true	"room id"
//	@Param			user	path	string	true	"user id"
//	@Success		204
//	@Failure		400	{object}	api.Problem	"invalid"
//	@Failure		401	{object}	api.Problem	"unauthorized"
//	@Failure		403	{object}	api.Problem	"forbidden, not_participant, banned"
//	@Failure		404	{object}	api.Problem	"not_found: no such room, or the user is not in it"
//	@Failure		429	{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503	{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/participants/{user} [delete]
func (h roomHandlers) removeParticipant(c *gin.Context) {
	respondEmpty(c, h.chat.RemoveParticipant(c.Request.Context(), actor(c), c.Param("room"), c.Param("user")))
}

// setRole godoc
//
//	@Summary		Promote or demote a participant
//	@Description	Owner or admin. `moderator` or `participant`; the owner's own role does not change.
//	@Tags			participants
//	@Accept			json
//	@Produce		json
//	@Param			room	path		string				true	"room id"
//	@Param			user	path		string				true	"user id"
//	@Param			body	body		api.SetRoleRequest	true	"the new role"
//	@Success		200		{object}	api.Participant
//	@Failure		400		{object}	api.Problem	"invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		403		{object}	api.Problem	"forbidden, not_participant, banned"
//	@Failure		404		{object}	api.Problem	"not_found"
//	@Failure		413		{object}	api.Problem	"too_large"
//	@Failure		415		{object}	api.Problem	"unsupported_media_type"
//	@Failure		429		{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/participants/{user}/role [put]
func (h roomHandlers) setRole(c *gin.Context) {
	var req api.SetRoleRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	p, err := h.chat.SetRole(c.Request.Context(), actor(c), c.Param("room"), c.Param("user"), req.Role)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.NewParticipant(p))
}

// respondEmpty answers 204, or the error.
func respondEmpty(c *gin.Context, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
