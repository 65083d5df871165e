package tests

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/handlers/livekit"
)

const (
	lkKey    = "APIresonate"
	lkSecret = "livekit-api-secret-of-resonate-0123456789"
)

// lkRequest is one webhook delivery: the exact body and its Authorization.
type lkRequest struct {
	body []byte
	auth string
}

// lkEvent builds a body as LiveKit's protojson encoder writes it (camelCase,
// int64 as strings, fields the chat ignores included) and signs it the way
// LiveKit's server SDK does: an HS256 JWT issued by the API key, valid for 5
// minutes, whose sha256 claim is the base64 SHA-256 of the body.
func lkEvent(t *testing.T, event, room, identity, name string) lkRequest {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	id := "EV_" + hex.EncodeToString(b)
	now := time.Now().Unix()
	roomJSON := fmt.Sprintf(`{"sid":"RM_%s","name":%q,"emptyTimeout":300,"creationTime":"%d","enabledCodecs":[{"mime":"audio/opus"}]}`,
		id[3:], room, now-60)
	body := fmt.Sprintf(`{"event":%q,"room":%s,"id":%q,"createdAt":"%d"}`, event, roomJSON, id, now)
	if identity != "" {
		body = fmt.Sprintf(`{"event":%q,"room":%s,"participant":{"sid":"PA_%s","identity":%q,"state":"ACTIVE","joinedAt":"%d","name":%q,"version":2,"permission":{"canSubscribe":true,"canPublish":true}},"id":%q,"createdAt":"%d"}`,
			event, roomJSON, id[3:], identity, now, name, id, now)
	}
	return lkRequest{body: []byte(body), auth: lkSign(t, lkKey, lkSecret, []byte(body))}
}

func lkSign(t *testing.T, key, secret string, body []byte) string {
	t.Helper()
	sum := sha256.Sum256(body)
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": key, "nbf": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(), "sha256": base64.StdEncoding.EncodeToString(sum[:])}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// deliver posts a webhook as LiveKit does.
func (s *Server) deliver(t *testing.T, r lkRequest) *Response {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/webhooks/livekit", bytes.NewReader(r.body))
	req.Header.Set("Content-Type", "application/webhook+json")
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func mustDeliver(t *testing.T, s *Server, r lkRequest) {
	t.Helper()
	if resp := s.deliver(t, r); resp.Status != http.StatusNoContent {
		t.Fatalf("webhook: status %d, want 204: %s", resp.Status, resp.Body)
	}
}

func participantIDs(t *testing.T, c *Client, room string) map[string]api.Participant {
	t.Helper()
	var out struct {
		Participants []api.Participant `json:"participants"`
	}
	c.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room+"/participants", nil, &out)
	m := map[string]api.Participant{}
	for _, p := range out.Participants {
		m[p.UserID] = p
	}
	return m
}

func TestLiveKitWebhookOffByDefault(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	wantProblem(t, s.deliver(t, lkEvent(t, "room_finished", "r1", "", "")), http.StatusNotFound, "not_found")
}

func TestLiveKitWebhookRoomFinished(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{LiveKit: livekit.Config{APIKey: lkKey, APISecret: lkSecret}})
	owner, bob := s.Client(t, "owner"), s.Client(t, "bob")
	room := uniqueRoom(t)
	owner.CreateRoom(room)
	bob.Join(room)
	st := bob.Stream(room)

	finished := lkEvent(t, "room_finished", room, "", "")
	other := lkEvent(t, "room_finished", "another-room", "", "")
	refused := map[string]lkRequest{
		"unsigned":          {body: finished.body},
		"tampered":          {body: bytes.Replace(finished.body, []byte(room), []byte(room+"x"), 1), auth: finished.auth},
		"another room's":    {body: finished.body, auth: other.auth},
		"another key":       {body: finished.body, auth: lkSign(t, "APIother", lkSecret, finished.body)},
		"another secret":    {body: finished.body, auth: lkSign(t, lkKey, "not-the-secret-not-the-secret-00", finished.body)},
		"not a LiveKit JWT": {body: finished.body, auth: s.Token(t, "owner", true, time.Hour)},
	}
	for name, r := range refused {
		if resp := s.deliver(t, r); resp.Status != http.StatusUnauthorized || resp.Problem(t).Code != "unauthorized" {
			t.Fatalf("%s: status %d, want 401 unauthorized: %s", name, resp.Status, resp.Body)
		}
	}
	owner.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room, nil, nil)
	if evs := st.Drain(); len(evs) > 1 { // the opening retry frame only
		t.Fatalf("refused webhooks changed something: %+v", evs)
	}

	mustDeliver(t, s, finished)
	ev := st.NextRoomEvent(2 * time.Second)
	if ev.Type != "room.closed" || ev.Envelope(t).Data == nil {
		t.Fatalf("got %s, want room.closed", ev.Type)
	}
	if !st.Ended(2 * time.Second) {
		t.Fatal("stream still open after room.closed")
	}
	wantProblem(t, owner.Do("GET", "/api/v1/rooms/"+room, nil), http.StatusNotFound, "not_found")

	// A new room takes the id; a replay of the old delivery must not close it.
	owner.CreateRoom(room)
	mustDeliver(t, s, finished)
	owner.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room, nil, nil)
	// A room the chat does not have is harmless, as is an event it does not follow.
	mustDeliver(t, s, lkEvent(t, "room_finished", "never-created", "", ""))
	mustDeliver(t, s, lkEvent(t, "room_started", room, "", ""))
	mustDeliver(t, s, lkEvent(t, "participant_joined", room, "carol", "Carol")) // sync is off
	if _, ok := participantIDs(t, owner, room)["carol"]; ok {
		t.Fatal("participant_joined joined carol with sync off")
	}
}

func TestLiveKitWebhookSyncParticipants(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{LiveKit: livekit.Config{APIKey: lkKey, APISecret: lkSecret, SyncParticipants: true}})
	owner, bob := s.Client(t, "owner"), s.Client(t, "bob")
	room := uniqueRoom(t)
	owner.CreateRoom(room)
	ownerStream := owner.Stream(room)

	joined := lkEvent(t, "participant_joined", room, "bob", "Bob B.")
	mustDeliver(t, s, joined)
	mustDeliver(t, s, joined)                                               // LiveKit's retry of the same delivery
	mustDeliver(t, s, lkEvent(t, "participant_joined", room, "bob", "Bob")) // a second event for the same join
	p, ok := participantIDs(t, owner, room)["bob"]
	if !ok || p.Name != "Bob B." || p.Role != "participant" {
		t.Fatalf("bob after participant_joined: %+v, present %v", p, ok)
	}
	if ev := ownerStream.NextRoomEvent(2 * time.Second); ev.Type != "participant.joined" {
		t.Fatalf("got %s, want participant.joined", ev.Type)
	}
	bob.Send(room, "I am in the voice room")
	bobStream := bob.Stream(room)

	left := lkEvent(t, "participant_left", room, "bob", "Bob B.")
	mustDeliver(t, s, left)
	if !bobStream.Ended(2 * time.Second) {
		t.Fatal("bob's stream still open after participant_left")
	}
	wantProblem(t, bob.Do("POST", "/api/v1/rooms/"+room+"/messages", map[string]string{"content": "still here?"}),
		http.StatusForbidden, "not_participant")
	mustDeliver(t, s, left)                                                  // replayed
	mustDeliver(t, s, lkEvent(t, "participant_left", room, "bob", "Bob B.")) // left twice
	mustDeliver(t, s, joined)                                                // an old join replayed after the leave
	if _, ok := participantIDs(t, owner, room)["bob"]; ok {
		t.Fatal("a replayed participant_joined rejoined bob")
	}
	evs := ownerStream.Collect(2, 2*time.Second) // message.created, participant.left
	if evs[1].Type != "participant.left" {
		t.Fatalf("got %v, want message.created then participant.left", evs)
	}

	// Bans hold: a banned user in the voice room does not join the chat.
	owner.Must(http.StatusOK, "PUT", "/api/v1/rooms/"+room+"/bans/mallory", map[string]any{"reason": "spam"}, nil)
	mustDeliver(t, s, lkEvent(t, "participant_joined", room, "mallory", "Mallory"))
	// Recorders and agents are not chat participants; unknown rooms are harmless.
	egress := lkEvent(t, "participant_joined", room, "EG_recorder", "")
	egress.body = bytes.Replace(egress.body, []byte(`"state":"ACTIVE"`), []byte(`"state":"ACTIVE","kind":"EGRESS"`), 1)
	egress.auth = lkSign(t, lkKey, lkSecret, egress.body)
	mustDeliver(t, s, egress)
	mustDeliver(t, s, lkEvent(t, "participant_joined", "no-such-room", "bob", "Bob"))
	got := participantIDs(t, owner, room)
	if _, ok := got["mallory"]; ok {
		t.Fatal("a banned user joined through the webhook")
	}
	if _, ok := got["EG_recorder"]; ok {
		t.Fatal("an egress participant joined the chat")
	}

	// The owner leaving and coming back keeps ownership.
	mustDeliver(t, s, lkEvent(t, "participant_left", room, "owner", "Owner"))
	mustDeliver(t, s, lkEvent(t, "participant_joined", room, "owner", "Owner"))
	if p := participantIDs(t, owner, room)["owner"]; p.Role != "owner" {
		t.Fatalf("owner rejoined as %q, want owner", p.Role)
	}
}
