package tests

import (
	"net/http"
	"testing"
	"time"
)

// TestStreamRefusesExpiredToken: a token a few seconds past its exp, inside
// the 30 s leeway for clock skew, still makes single calls, but opens no
// stream and buys no ticket: such a stream would only say auth.expired and
// end, and the client would loop reconnecting until the leeway ran out.
func TestStreamRefusesExpiredToken(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice := s.Client(t, "alice")
	room := coreRoom(t, alice)
	late := s.as(t, "alice", s.Token(t, "alice", false, -3*time.Second))
	late.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room, nil, nil)

	st := late.Stream(room)
	if st.Status != http.StatusUnauthorized || st.Problem == nil || st.Problem.Code != "unauthorized" {
		t.Fatalf("stream with a token 3 s past exp: got %d %+v, want 401 unauthorized", st.Status, st.Problem)
	}
	coreProblem(t, late.Do("POST", "/api/v1/rooms/"+room+"/stream-ticket", nil), http.StatusUnauthorized, "unauthorized")

	// A fresh token opens the stream as before.
	if st := alice.Stream(room); st.Status != http.StatusOK {
		t.Fatalf("stream with a fresh token: got %d, want 200", st.Status)
	}
}
