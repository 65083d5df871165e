package identity

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/models"
)

func TestTickets(t *testing.T) {
	t.Parallel()
	tickets := NewTickets(authSecret)
	bearer := NewHS256(authSecret)
	credExp := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	alice := &Identity{Actor: models.Actor{UserID: "alice", Name: "Alice", Admin: true}, Expires: credExp}
	ticket, until, err := tickets.Issue(alice, "room-1")
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if d := time.Until(until); d <= 0 || d > TicketTTL {
		t.Errorf("Issue: ticket good for %v, want up to %v", d, TicketTTL)
	}
	token, err := bearer.Sign("alice", "Alice", false, time.Hour)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	exp := time.Now().Add(time.Minute).Unix()
	other, _, _ := NewTickets([]byte("another secret of 32 bytes......")).Issue(alice, "room-1")

	t.Run("accepted", func(t *testing.T) {
		t.Parallel()
		id, err := tickets.Check(ticket, "room-1")
		if err != nil {
			t.Fatalf("Check: got %v, want nil", err)
		}
		if id.Actor != alice.Actor || !id.Expires.Equal(credExp) {
			t.Errorf("Check: got %+v until %v, want %+v until %v (the credential's expiry)", id.Actor, id.Expires, alice.Actor, credExp)
		}
	})
	refused := []struct {
		name, ticket, room string
	}{
		{"another room", ticket, "room-2"},
		{"room id prefix", ticket, "room-"},
		{"a bearer token as a ticket", token, "room-1"},
		{"another server's ticket", other, "room-1"},
		{"no subject", rawJWT(map[string]any{"alg": "HS256", "typ": "JWT"}, map[string]any{"room": "room-1", "exp": exp, "cexp": exp}, tickets.key), "room-1"},
		{"no exp", rawJWT(map[string]any{"alg": "HS256", "typ": "JWT"}, map[string]any{"sub": "alice", "room": "room-1", "cexp": exp}, tickets.key), "room-1"},
		{"alg none", signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType,
			jwt.MapClaims{"sub": "alice", "room": "room-1", "exp": exp, "cexp": exp}), "room-1"},
		{"HS384 under the ticket key", signWith(t, jwt.SigningMethodHS384, tickets.key,
			jwt.MapClaims{"sub": "alice", "room": "room-1", "exp": exp, "cexp": exp}), "room-1"},
		{"empty", "", "room-1"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if id, err := tickets.Check(tt.ticket, tt.room); id != nil || !errors.Is(err, models.ErrUnauthorized) {
				t.Errorf("Check: got %+v, %v; want %v", id, err, models.ErrUnauthorized)
			}
		})
	}
	t.Run("a ticket as a bearer token", func(t *testing.T) {
		t.Parallel()
		if id, err := bearer.Verify(context.Background(), ticket, nil); id != nil || !errors.Is(err, models.ErrUnauthorized) {
			t.Errorf("Verify(ticket): got %+v, %v; want %v", id, err, models.ErrUnauthorized)
		}
	})
}

// TestTicketExpiry: a ticket opens streams for TicketTTL, then never again.
func TestTicketExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tickets := NewTickets(authSecret)
		id := &Identity{Actor: models.Actor{UserID: "alice"}, Expires: time.Now().Add(time.Hour)}
		ticket, until, err := tickets.Issue(id, "r")
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		if got := time.Until(until); got != TicketTTL {
			t.Errorf("Issue: good for %v, want %v", got, TicketTTL)
		}
		time.Sleep(TicketTTL - time.Second) // the bubble's clock
		if _, err := tickets.Check(ticket, "r"); err != nil {
			t.Errorf("Check a second before expiry: got %v, want nil", err)
		}
		time.Sleep(time.Second)
		if _, err := tickets.Check(ticket, "r"); !errors.Is(err, models.ErrUnauthorized) {
			t.Errorf("Check at expiry: got %v, want %v", err, models.ErrUnauthorized)
		}
	})
}

// FuzzTicketCheck: whatever is sent as a ticket, Check accepts only what
// Issue made, for the room and user it was made for.
func FuzzTicketCheck(f *testing.F) {
	tk := NewTickets([]byte("a fuzzing secret of at least 32 bytes"))
	id := &Identity{Actor: models.Actor{UserID: "alice", Name: "Alice"}, Expires: time.Now().Add(24 * time.Hour)}
	good, _, err := tk.Issue(id, "room-1")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "room-1")
	f.Add(good, "room-2")
	f.Add(good[:len(good)-2], "room-1")
	f.Add(strings.Replace(good, ".", "..", 1), "room-1")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.", "room-1")
	f.Fuzz(func(t *testing.T, ticket, room string) {
		got, err := tk.Check(ticket, room)
		if err != nil {
			if !errors.Is(err, models.ErrUnauthorized) {
				t.Fatalf("Check: %v, want unauthorized", err)
			}
			return
		}
		if room != "room-1" || got.Actor.UserID != "alice" || got.Actor.Admin {
			t.Fatalf("Check(%q, %q) accepted %+v", ticket, room, got.Actor)
		}
	})
}
