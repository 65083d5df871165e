package tests

// Room creation under concurrency: however many POST /rooms with one id race,
// the owner gets 201 once and 200 for the others, and someone else 409, on
// PostgreSQL with one node or many as on SQLite.

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// racingCreates sends n POST /rooms for room at once, request i to bases[i %
// len(bases)], and returns the statuses.
func racingCreates(t *testing.T, bases []string, token, room string, n int) []int {
	t.Helper()
	statuses := make([]int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses[i], _ = call(bases[i%len(bases)], token, "POST", "/api/v1/rooms", map[string]string{"id": room, "name": "R"}, nil)
		}()
	}
	close(start)
	wg.Wait()
	return statuses
}

// checkCreateRace runs rounds of racing creates and checks each round's
// answers: one 201, the rest 200; then another user's create is a 409.
func checkCreateRace(t *testing.T, bases []string, owner, other string) {
	t.Helper()
	for round := range 8 {
		room := fmt.Sprintf("%s-%d", uniqueRoom(t), round)
		got := racingCreates(t, bases, owner, room, 4)
		created, same := 0, 0
		for _, s := range got {
			switch s {
			case http.StatusCreated:
				created++
			case http.StatusOK:
				same++
			}
		}
		if created != 1 || same != len(got)-1 {
			t.Errorf("round %d: the owner's 4 concurrent creates got %v, want one 201 and three 200", round, got)
		}
		if s, _ := call(bases[round%len(bases)], other, "POST", "/api/v1/rooms", map[string]string{"id": room, "name": "R"}, nil); s != http.StatusConflict {
			t.Errorf("round %d: another user's create got %d, want 409", round, s)
		}
	}
}

// TestCreateRoomRacePostgres: one node on PostgreSQL, where the row lock of
// a room that does not exist yet locks nothing.
func TestCreateRoomRacePostgres(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{DB: freshDatabase(t)})
	checkCreateRace(t, []string{s.URL}, s.Token(t, "alice", false, time.Hour), s.Token(t, "bob", false, time.Hour))
}

// TestCreateRoomRaceSQLite: the same on SQLite, whose one writer serialises
// the creates.
func TestCreateRoomRaceSQLite(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	checkCreateRace(t, []string{s.URL}, s.Token(t, "alice", false, time.Hour), s.Token(t, "bob", false, time.Hour))
}

// TestMultiNodeCreateRoomRace: two nodes on one PostgreSQL database, the
// creates split between them.
func TestMultiNodeCreateRoomRace(t *testing.T) {
	cl := StartCluster(t, 2, "")
	checkCreateRace(t, []string{cl.Nodes[0].URL, cl.Nodes[1].URL}, cl.Token(t, "alice"), cl.Token(t, "bob"))
}
