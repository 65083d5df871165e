package tests

import (
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := uniqueRoom(t)
	alice.CreateRoom(room)
	bob.Join(room)
	st := bob.Stream(room, "Last-Event-ID", "0")
	if st.Status != 200 {
		t.Fatalf("stream status %d", st.Status)
	}
	bob.Send(room, "hi")
	evs := st.Collect(3, 2*time.Second)
	if evs[2].Type != "message.created" || evs[2].ID != "3" {
		t.Fatalf("got %+v", evs)
	}
}
