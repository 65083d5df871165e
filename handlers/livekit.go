package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers/identity"
	"github.com/resonate/resonate-chat/models"
)

// LiveKitConfig enables POST /webhooks/livekit: the chat follows the LiveKit
// voice room of the same name.
type LiveKitConfig struct {
	// APIKey and APISecret are the pair LiveKit signs webhooks with
	// (CHAT_LIVEKIT_API_KEY, CHAT_LIVEKIT_API_SECRET). Both or no webhook.
	APIKey    string
	APISecret string
	// SyncParticipants makes participant_joined and participant_left join
	// and remove chat participants (CHAT_LIVEKIT_SYNC_PARTICIPANTS).
	SyncParticipants bool
}

// Enabled reports whether the webhook is served.
func (c LiveKitConfig) Enabled() bool { return c.APIKey != "" && c.APISecret != "" }

// LiveKitActor is the service account webhook-driven changes are made as: a
// room closed by LiveKit shows "by": "livekit".
var LiveKitActor = models.Actor{UserID: "livekit", Name: "LiveKit", Admin: true}

const (
	// maxWebhookBody bounds a webhook: LiveKit's events are a few KiB, room
	// and participant metadata included.
	maxWebhookBody = 256 << 10
	// webhookMemory is how long a delivered event id is remembered: LiveKit
	// signs for 5 minutes and retries within that, so a replay of the same
	// signed request is refused as a duplicate for as long as it is valid.
	webhookMemory = 5*time.Minute + 2*identity.Leeway
	// webhookMemorySize bounds the ids remembered; past it the oldest go,
	// which only weakens dedup of the oldest, never correctness: every
	// action is idempotent.
	webhookMemorySize = 10_000
)

// liveKitService is what the webhook needs of the use cases.
type liveKitService interface {
	CloseRoom(ctx context.Context, a models.Actor, room string) error
	JoinAs(ctx context.Context, service models.Actor, room string, user models.Actor) (*models.Participant, bool, error)
	RemoveAs(ctx context.Context, service models.Actor, room, user string) (bool, error)
}

type liveKitHandlers struct {
	chat liveKitService
	cfg  LiveKitConfig
	seen *recentIDs
}

func newLiveKitHandlers(chat liveKitService, cfg LiveKitConfig) *liveKitHandlers {
	return &liveKitHandlers{chat: chat, cfg: cfg, seen: newRecentIDs(webhookMemory, webhookMemorySize)}
}

// liveKitEvent is the part of LiveKit's WebhookEvent the chat reads.
type liveKitEvent struct {
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

// webhook receives LiveKit's signed events. A request that is not signed by
// the configured key gets 401 and changes nothing; an event about a room or
// user the chat does not know, a duplicate, or an event the chat does not
// follow is a harmless 204, so LiveKit does not retry it.
func (h *liveKitHandlers) webhook(c *gin.Context) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxWebhookBody))
	if err != nil {
		fail(c, models.WithDetail(api.ErrTooLarge, "webhook body is over %d bytes", maxWebhookBody))
		return
	}
	if err := h.verify(c.GetHeader("Authorization"), body); err != nil {
		fail(c, err)
		return
	}
	var ev liveKitEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		fail(c, models.Invalidf("webhook body is not a LiveKit event"))
		return
	}
	log := logger(c).With("event", ev.Event, "event_id", ev.ID)
	if ev.ID != "" && h.seen.has(ev.ID) {
		log.Info("livekit webhook: duplicate ignored")
		c.Status(http.StatusNoContent)
		return
	}
	outcome, err := h.apply(c.Request.Context(), ev)
	if err != nil {
		fail(c, err)
		return
	}
	h.seen.add(ev.ID)
	log.Info("livekit webhook", "outcome", outcome)
	c.Status(http.StatusNoContent)
}

type liveKitClaims struct {
	Sha256 string `json:"sha256"`
	jwt.RegisteredClaims
}

// verify checks a webhook the way LiveKit's SDKs do: the Authorization
// header is an HS256 JWT issued by the API key, signed with its secret, and
// its sha256 claim is the base64 SHA-256 of the raw body.
func (h *liveKitHandlers) verify(header string, body []byte) error {
	token := strings.TrimSpace(strings.TrimPrefix(header, "Bearer "))
	if token == "" {
		return models.WithDetail(models.ErrUnauthorized, "missing Authorization: a LiveKit webhook token is required")
	}
	var cl liveKitClaims
	_, err := jwt.ParseWithClaims(token, &cl, func(*jwt.Token) (any, error) { return []byte(h.cfg.APISecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(identity.Leeway),
		jwt.WithIssuer(h.cfg.APIKey))
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
func (h *liveKitHandlers) apply(ctx context.Context, ev liveKitEvent) (string, error) {
	if ev.Room == nil || !models.ValidRoomID(ev.Room.Name) {
		return "ignored: no room, or a room name that is not a chat room id", nil
	}
	room := ev.Room.Name
	var err error
	switch {
	case ev.Event == "room_finished":
		err = h.chat.CloseRoom(ctx, LiveKitActor, room)
	case !h.cfg.SyncParticipants || (ev.Event != "participant_joined" && ev.Event != "participant_left"):
		return "ignored: not followed", nil
	case ev.Participant == nil || (ev.Participant.Kind != "" && ev.Participant.Kind != "STANDARD"):
		return "ignored: not a standard participant", nil
	case ev.Event == "participant_joined":
		_, _, err = h.chat.JoinAs(ctx, LiveKitActor, room, models.Actor{UserID: ev.Participant.Identity, Name: ev.Participant.Name})
	default:
		_, err = h.chat.RemoveAs(ctx, LiveKitActor, room, ev.Participant.Identity)
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

// recentIDs remembers ids for a while, at most max of them, oldest out first.
type recentIDs struct {
	ttl time.Duration
	max int

	mu    sync.Mutex // guards the fields below
	at    map[string]time.Time
	order []string
}

func newRecentIDs(ttl time.Duration, max int) *recentIDs {
	return &recentIDs{ttl: ttl, max: max, at: map[string]time.Time{}}
}

func (r *recentIDs) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.at[id]
	return ok && time.Since(t) < r.ttl
}

func (r *recentIDs) add(id string) {
	if id == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for len(r.order) > 0 && (len(r.order) >= r.max || now.Sub(r.at[r.order[0]]) >= r.ttl) {
		delete(r.at, r.order[0])
		r.order = r.order[1:]
	}
	if _, ok := r.at[id]; !ok {
		r.order = append(r.order, id)
	}
	r.at[id] = now
}
