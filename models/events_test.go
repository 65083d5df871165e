package models

import "testing"

func TestEndsStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ, target string
		admin, want       bool
	}{
		{"the room closing", EventRoomClosed, "", false, true},
		{"the room closing, an admin's stream", EventRoomClosed, "", true, true},
		{"the user banned", EventUserBanned, "u", false, true},
		{"the user kicked or leaving", EventParticipantLeft, "u", false, true},
		{"someone else banned", EventUserBanned, "v", false, false},
		{"an admin banned", EventUserBanned, "u", true, false},
		{"an admin kicked or leaving", EventParticipantLeft, "u", true, false},
		{"a message", EventMessageCreated, "", false, false},
	}
	for _, tt := range tests {
		if got := EndsStream(tt.typ, tt.target, "u", tt.admin); got != tt.want {
			t.Errorf("%s: EndsStream(%s, %q, u, admin %v) = %v, want %v", tt.name, tt.typ, tt.target, tt.admin, got, tt.want)
		}
	}
}
