package stream

import (
	"testing"

	"github.com/resonate/resonate-chat/models"
)

// TestEndsStream: what an event ends is decided once, as it is framed (from
// the log, as here, or as it is published), and each stream compares it with
// its own user.
func TestEndsStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ, target string
		admin, want       bool
	}{
		{"the room closing", models.EventRoomClosed, "", false, true},
		{"the room closing, an admin's stream", models.EventRoomClosed, "", true, true},
		{"the user banned", models.EventUserBanned, "u", false, true},
		{"the user kicked or leaving", models.EventParticipantLeft, "u", false, true},
		{"someone else banned", models.EventUserBanned, "v", false, false},
		{"an admin banned", models.EventUserBanned, "u", true, false},
		{"an admin kicked or leaving", models.EventParticipantLeft, "u", true, false},
		{"a message", models.EventMessageCreated, "", false, false},
	}
	for _, tt := range tests {
		row := &models.EventRow{RoomID: "r", Seq: 1, Type: tt.typ, Data: "{}"}
		if tt.target != "" {
			row.TargetID = &tt.target
		}
		if got := Frame(row).EndsStreamOf("u", tt.admin); got != tt.want {
			t.Errorf("%s: EndsStream(%s, %q, u, admin %v) = %v, want %v", tt.name, tt.typ, tt.target, tt.admin, got, tt.want)
		}
	}
}
