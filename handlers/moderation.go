package handlers

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// moderationService is what the moderation handlers need of the use cases.
type moderationService interface {
	Mute(ctx context.Context, a models.Actor, room, user string, d time.Duration, reason *string) (*models.Mute, error)
	Unmute(ctx context.Context, a models.Actor, room, user string) error
	Ban(ctx context.Context, a models.Actor, room, user string, d *time.Duration, reason *string) (*models.Ban, error)
	Unban(ctx context.Context, a models.Actor, room, user string) error
	Bans(ctx context.Context, a models.Actor, room string) ([]models.Ban, error)
	UpdateChat(ctx context.Context, a models.Actor, room string, u models.ChatUpdate) (*models.Room, error)
	ModerationLog(ctx context.Context, a models.Actor, room string, before int64, limit int) ([]models.LogEntry, bool, error)
}

type moderationHandlers struct {
	chat moderationService
}

// seconds converts a duration in seconds from a request, saturating instead
// of overflowing so that the use case's range check sees a huge value.
func seconds(n int64) time.Duration {
	if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(n) * time.Second
}

// mute godoc
//
//	@Summary		Mute a participant
//	@Description	Moderator, owner or admin, on a participant they outrank. 1 s – 7 days. The participant may not post or edit until then (403 `muted`); the mute ends by itself. Muting again replaces the mute.
//	@Tags			moderation
//	@Accept			json
//	@Produce		json
//	@Param			room	path		string			true	"room id"
//	@Param			user	path		string			true	"user id"
//	@Param			body	body		api.MuteRequest	true	"how long, and why"
//	@Success		200		{object}	api.Mute
//	@Failure		400		{object}	api.Problem	"invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		403		{object}	api.Problem	"forbidden, not_participant, banned"
//	@Failure		404		{object}	api.Problem	"not_found: no such room, or the user is not in it"
//	@Failure		413		{object}	api.Problem	"too_large"
//	@Failure		415		{object}	api.Problem	"unsupported_media_type"
//	@Failure		429		{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/mutes/{user} [put]
func (h moderationHandlers) mute(c *gin.Context) {
	var req api.MuteRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	m, err := h.chat.Mute(c.Request.Context(), actor(c), c.Param("room"), c.Param("user"), seconds(req.DurationSeconds), req.Reason)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.NewMute(m))
}

// unmute godoc
//
//	@Summary		Unmute a participant
//	@Description	Moderator, owner or admin, on a user they outrank. Idempotent.
//	@Tags			moderation
//	@Param			room	path	string	true	"room id"
//	@Param			user	path	string	true	"user id"
//	@Success		204
//	@Failure		400	{object}	api.Problem	"invalid"
//	@Failure		401	{object}	api.Problem	"unauthorized"
//	@Failure		403	{object}	api.Problem	"forbidden, not_participant, banned"
//	@Failure		404	{object}	api.Problem	"not_found"
//	@Failure		429	{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503	{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/mutes/{user} [delete]
func (h moderationHandlers) unmute(c *gin.Context) {
	respondEmpty(c, h.chat.Unmute(c.Request.Context(), actor(c), c.Param("room"), c.Param("user")))
}

// ban godoc
//
//	@Summary		Ban a user
//	@Description	Moderator, owner or admin, on a user they outrank; the user need not be in the room. 1 s – 365 days, or permanent without `duration_seconds`. Removes the user and ends their streams within moments; join, reading, posting and streaming then get 403 `banned`. Banning again replaces the ban.
//	@Tags			moderation
//	@Accept			json
//	@Produce		json
//	@Param			room	path		string			true	"room id"
//	@Param			user	path		string			true	"user id"
//	@Param			body	body		api.BanRequest	true	"how long, and why"
//	@Success		200		{object}	api.Ban
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
//	@Router			/rooms/{room}/bans/{user} [put]
func (h moderationHandlers) ban(c *gin.Context) {
	var req api.BanRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	var d *time.Duration
	if req.DurationSeconds != nil {
		v := seconds(*req.DurationSeconds)
		d = &v
	}
	b, err := h.chat.Ban(c.Request.Context(), actor(c), c.Param("room"), c.Param("user"), d, req.Reason)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.NewBan(b))
}

// unban godoc
//
//	@Summary		Unban a user
//	@Description	Moderator, owner or admin. Idempotent. The user may join again.
//	@Tags			moderation
//	@Param			room	path	string	true	"room id"
//	@Param			user	path	string	true	"user id"
//	@Success		204
//	@Failure		400	{object}	api.Problem	"invalid"
//	@Failure		401	{object}	api.Problem	"unauthorized"
//	@Failure		403	{object}	api.Problem	"forbidden, not_participant, banned"
//	@Failure		404	{object}	api.Problem	"not_found"
//	@Failure		429	{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503	{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/bans/{user} [delete]
func (h moderationHandlers) unban(c *gin.Context) {
	respondEmpty(c, h.chat.Unban(c.Request.Context(), actor(c), c.Param("room"), c.Param("user")))
}

// bans godoc
//
//	@Summary		List active bans
//	@Description	Moderator, owner or admin.
//	@Tags			moderation
//	@Produce		json
//	@Param			room	path		string	true	"room id"
//	@Success		200		{object}	api.BanList
//	@Failure		400		{object}	api.Problem	"invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		403		{object}	api.Problem	"forbidden, not_participant, banned"
//	@Failure		404		{object}	api.Problem	"not_found"
//	@Failure		429		{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/bans [get]
func (h moderationHandlers) bans(c *gin.Context) {
	bs, err := h.chat.Bans(c.Request.Context(), actor(c), c.Param("room"))
	if err != nil {
		fail(c, err)
		return
	}
	out := api.BanList{Bans: make([]api.Ban, len(bs))}
	for i := range bs {
		out.Bans[i] = api.NewBan(&bs[i])
	}
	c.JSON(http.StatusOK, out)
}

// updateChat godoc
//
//	@Summary		Lock the chat, set slow mode
//	@Description	Moderator, owner or admin. `locked_until` (RFC 3339, or null to unlock): until then only moderators and above may post (403 `chat_locked`). `slow_mode_seconds` (0–3600): each user below moderator waits that long between messages (429 `rate_limited`). Absent fields stay as they are.
//	@Tags			moderation
//	@Accept			json
//	@Produce		json
//	@Param			room	path		string					true	"room id"
//	@Param			body	body		api.ChatUpdateRequest	true	"the settings to change"
//	@Success		200		{object}	api.Room
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
//	@Router			/rooms/{room}/chat [patch]
func (h moderationHandlers) updateChat(c *gin.Context) {
	var req api.ChatUpdateRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	u := models.ChatUpdate{SetLock: req.LockedUntil.Set, LockedUntil: req.LockedUntil.Value, SlowModeSeconds: req.SlowModeSeconds}
	room, err := h.chat.UpdateChat(c.Request.Context(), actor(c), c.Param("room"), u)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.NewRoom(room))
}

// moderationLog godoc
//
//	@Summary		Read the moderation log
//	@Description	Moderator, owner or admin. Newest first; page with `before` set to the last entry's id.
//	@Tags			moderation
//	@Produce		json
//	@Param			room	path		string	true	"room id"
//	@Param			before	query		int		false	"only entries with an id below this"	minimum(1)
//	@Param			limit	query		int		false	"page size, 1–100"	default(50)	minimum(1)	maximum(100)
//	@Success		200		{object}	api.ModerationLog
//	@Failure		400		{object}	api.Problem	"invalid"
//	@Failure		401		{object}	api.Problem	"unauthorized"
//	@Failure		403		{object}	api.Problem	"forbidden, not_participant, banned"
//	@Failure		404		{object}	api.Problem	"not_found"
//	@Failure		429		{object}	api.Problem	"rate_limited: too many tokens from this address needed the identity provider and were refused"
//	@Failure		503		{object}	api.Problem	"unavailable"
//	@Header			429,503	{integer}	Retry-After	"seconds to wait before trying again"
//	@Security		Bearer
//	@Router			/rooms/{room}/moderation-log [get]
func (h moderationHandlers) moderationLog(c *gin.Context) {
	before, err := queryInt(c, "before", 1, math.MaxInt64)
	if err != nil {
		fail(c, err)
		return
	}
	limit, err := queryInt(c, "limit", 1, models.MaxPageSize)
	if err != nil {
		fail(c, err)
		return
	}
	es, more, err := h.chat.ModerationLog(c.Request.Context(), actor(c), c.Param("room"), deref(before), int(deref(limit)))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.NewModerationLog(es, more))
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
