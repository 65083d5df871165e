package handlers

import (
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers/livekit"
	"github.com/resonate/resonate-chat/models"
)

// liveKitWebhook receives LiveKit's signed events (see livekit.Webhook): a
// request not signed by the configured key gets 401 and changes nothing; an
// event the chat ignores, or a duplicate, is a harmless 204, so LiveKit does
// not retry it.
func liveKitWebhook(w *livekit.Webhook) gin.HandlerFunc {
	return func(c *gin.Context) {
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, livekit.MaxBody))
		if err != nil {
			fail(c, models.WithDetail(api.ErrTooLarge, "webhook body is over %d bytes", livekit.MaxBody))
			return
		}
		d, err := w.Receive(c.Request.Context(), c.GetHeader("Authorization"), body)
		if err != nil {
			fail(c, err)
			return
		}
		log := logger(c).With("event", d.Event, "event_id", d.ID)
		if d.Duplicate {
			log.Info("livekit webhook: duplicate ignored")
		} else {
			log.Info("livekit webhook", "outcome", d.Outcome)
		}
		c.Status(http.StatusNoContent)
	}
}
