// Package livekit owns LiveKit's webhook: checking that a delivery is signed by
// the configured API key, and applying it (a finished LiveKit room closes the
// chat room of the same name; with participant sync, joins and leaves follow
// the voice room) as LiveKit's service account. The HTTP handler that reads
// the body and answers lives with the router in package handlers.
package livekit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/handlers/identity"
	"github.com/resonate/resonate-chat/models"
)

// Config enables POST /webhooks/livekit: the chat follows the LiveKit voice
// room of the same name.
type Config struct {
	// APIKey and APISecret are the pair LiveKit signs webhooks with
	// (CHAT_LIVEKIT_API_KEY, CHAT_LIVEKIT_API_SECRET). Both or no webhook.
	APIKey    string
	APISecret string
	// SyncParticipants makes participant_joined and participant_left join
	// and remove chat participants (CHAT_LIVEKIT_SYNC_PARTICIPANTS).
	SyncParticipants bool
}

// Enabled reports whether the webhook is served.
func (c Config) Enabled() bool { return c.APIKey != "" && c.APISecret != "" }

const (
	// MaxBody bounds a webhook: LiveKit's events are a few KiB, room and
	// participant metadata included.
	MaxBody = 256 << 10
	// webhookMemory is how long a delivered event id is remembered: LiveKit
	// signs for 5 minutes and retries within that, so a replay of the same
	// signed request is refused as a duplicate for as long as it is valid.
	webhookMemory = 5*time.Minute + 2*identity.Leeway
	// webhookMemorySize bounds the ids remembered; past it the oldest go,
	// which only weakens dedup of the oldest, never correctness: every
	// action is idempotent.
	webhookMemorySize = 10_000
)

// Service is what the webhook needs of the use cases.
type Service interface {
	CloseRoom(ctx context.Context, a models.Actor, room string) error
	JoinAs(ctx context.Context, service models.Actor, room string, user models.Actor) (*models.Participant, bool, error)
	RemoveAs(ctx context.Context, service models.Actor, room, user string) (bool, error)
}

// Webhook verifies and applies LiveKit's deliveries for one API key.
type Webhook struct {
	chat Service
	cfg  Config
	// actor is the service account changes are made as: a room closed by
	// LiveKit shows "by": "livekit". An admin, so that it may close any
	// room and remove anyone.
	actor models.Actor
	seen  *recentIDs
}

// New returns the webhook for cfg, acting on chat.
func New(chat Service, cfg Config) *Webhook {
	return &Webhook{chat: chat, cfg: cfg, actor: models.Actor{UserID: "livekit", Name: "LiveKit", Admin: true},
		seen: newRecentIDs(webhookMemory, webhookMemorySize)}
}

// event is the part of LiveKit's WebhookEvent the chat reads.
type event struct {
	Event string `json:"event"`
	ID    string `json:"id"`
	Room  *struct {
		Name string `json:"name"`
	} `json:"room"`
	Participant *struct {
		Identity string `json:"identity"`
		Name     string `json:"name"`
		Kind     string `json:"kind"`
	} `json:"participant"`
}

// Delivery is one received webhook, for the log: the event, its id, and what
// came of it.
type Delivery struct {
	Event, ID string
	// Duplicate is an event id delivered before: nothing was done again.
	Duplicate bool
	// Outcome says what was done ("applied", or why it was ignored).
	Outcome string
}

// Receive checks and applies one delivery: authorization is its
// Authorization header, body its raw body. A delivery not signed by the
// configured key is an error wrapping models.ErrUnauthorized and changes
// nothing; an event about a room or user the chat does not know, a
// duplicate, or an event the chat does not follow is no error, so that
// LiveKit does not retry it.
func (w *Webhook) Receive(ctx context.Context, authorization string, body []byte) (Delivery, error) {
	if err := w.verify(authorization, body); err != nil {
		return Delivery{}, err
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil {
		return Delivery{}, models.Invalidf("webhook body is not a LiveKit event")
	}
	d := Delivery{Event: ev.Event, ID: ev.ID}
	if ev.ID != "" && w.seen.has(ev.ID) {
		d.Duplicate = true
		return d, nil
	}
	outcome, err := w.apply(ctx, ev)
	if err != nil {
		return d, err
	}
	w.seen.add(ev.ID)
	d.Outcome = outcome
	return d, nil
}

type claims struct {
	Sha256 string `json:"sha256"`
	jwt.RegisteredClaims
}

// verify checks a webhook the way LiveKit's SDKs do: the Authorization
// header is an HS256 JWT issued by the API key, signed with its secret, and
// its sha256 claim is the base64 SHA-256 of the raw body.
func (w *Webhook) verify(header string, body []byte) error {
	token := strings.TrimSpace(strings.TrimPrefix(header, "Bearer "))
	if token == "" {
		return models.WithDetail(models.ErrUnauthorized, "missing Authorization: a LiveKit webhook token is required")
	}
	var cl claims
	_, err := jwt.ParseWithClaims(token, &cl, func(*jwt.Token) (any, error) { return []byte(w.cfg.APISecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(identity.Leeway),
		jwt.WithIssuer(w.cfg.APIKey))
	if err != nil {
		return models.WithDetail(models.ErrUnauthorized, "invalid webhook token: %v", err)
	}
	sum := sha256.Sum256(body)
	if !hmac.Equal([]byte(cl.Sha256), []byte(base64.StdEncoding.EncodeToString(sum[:]))) {
		return models.WithDetail(models.ErrUnauthorized, "webhook body does not match its signature")
	}
	return nil
}

// apply acts on one verified event and says what it did. Only a failure to
// reach the database (or a bug) is an error: LiveKit then retries.
func (w *Webhook) apply(ctx context.Context, ev event) (string, error) {
	if ev.Room == nil || !models.ValidRoomID(ev.Room.Name) {
		return "ignored: no room, or a room name that is not a chat room id", nil
	}
	room := ev.Room.Name
	var err error
	switch {
	case ev.Event == "room_finished":
		err = w.chat.CloseRoom(ctx, w.actor, room)
	case !w.cfg.SyncParticipants || (ev.Event != "participant_joined" && ev.Event != "participant_left"):
		return "ignored: not followed", nil
	case ev.Participant == nil || (ev.Participant.Kind != "" && ev.Participant.Kind != "STANDARD"):
		return "ignored: not a standard participant", nil
	case ev.Event == "participant_joined":
		_, _, err = w.chat.JoinAs(ctx, w.actor, room, models.Actor{UserID: ev.Participant.Identity, Name: ev.Participant.Name})
	default:
		_, err = w.chat.RemoveAs(ctx, w.actor, room, ev.Participant.Identity)
	}
	for _, harmless := range []error{models.ErrNotFound, models.ErrBanned, models.ErrInvalid} {
		if errors.Is(err, harmless) {
			return "ignored: " + err.Error(), nil
		}
	}
	if err != nil {
		return "", err
	}
	return "applied", nil
}
