package api

import (
	"encoding/json"
	"fmt"

	"github.com/resonate/resonate-chat/models"
)

// Notification is the body of every webhook POST. Receivers deduplicate by
// id: a notification may come more than once.
type Notification struct {
	ID        string `json:"id" example:"q3m8x2k7v4n9p1r5t6w0y2z4ab"`
	Type      string `json:"type" enums:"message.mentioned,room.closed" example:"message.mentioned"`
	RoomID    string `json:"room_id" example:"voice-42"`
	Timestamp string `json:"timestamp" format:"date-time"`
	Data      any    `json:"data"`
}

// MessageMentionedData is the data of message.mentioned: user_id was
// mentioned in message.
type MessageMentionedData struct {
	UserID  string      `json:"user_id" example:"bob"`
	Message RoomMessage `json:"message"`
}

// NotificationEncoder returns the models.NotificationEncoder of webhook
// bodies; withContent false leaves message text out (content is "").
func NotificationEncoder(withContent bool) models.NotificationEncoder {
	return func(n *models.Notification) ([]byte, error) {
		var data any
		switch p := n.Payload.(type) {
		case models.MessageMentioned:
			m := newEventMessage(p.Message)
			if !withContent {
				m.Content = ""
			}
			data = MessageMentionedData{UserID: p.UserID, Message: m}
		case models.RoomClosed:
			data = RoomClosedData{By: p.By}
		default:
			return nil, fmt.Errorf("api: no notification encoding for %T", p)
		}
		return json.Marshal(Notification{ID: n.ID, Type: n.Type, RoomID: n.RoomID, Timestamp: ts(n.Time), Data: data})
	}
}
