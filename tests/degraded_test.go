package tests

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bigContent is 8000 bytes: more than a page, so every send needs new ones.
var bigContent = strings.Repeat("💾", 2000)

// degradedWrites posts until one answer is a 503 and returns how many were
// acknowledged before it; it fails the test on anything but 201 and 503.
func degradedWrites(t *testing.T, c *Client, room string, max int) (acked []int64) {
	t.Helper()
	body := map[string]string{"content": bigContent}
	for i := 0; i < max; i++ {
		r := c.Do("POST", "/api/v1/rooms/"+room+"/messages", body)
		switch r.Status {
		case http.StatusCreated:
			var m struct{ Seq int64 }
			r.JSON(t, &m)
			acked = append(acked, m.Seq)
		case http.StatusServiceUnavailable:
			wantUnavailable(t, r)
			return acked
		default:
			t.Fatalf("post %d: %d %s", i, r.Status, r.Body)
		}
	}
	t.Fatalf("no 503 after %d posts", max)
	return nil
}

// wantUnavailable checks a 503 is the contract's: a problem with code
// unavailable and a Retry-After.
func wantUnavailable(t *testing.T, r *Response) {
	t.Helper()
	p := coreProblem(t, r, http.StatusServiceUnavailable, "unavailable")
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q on a 503", r.Header.Get("Retry-After"))
	}
	if strings.Contains(p.Detail, "SQL") || strings.Contains(p.Detail, "database or disk") || strings.Contains(p.Detail, "read-only") {
		t.Fatalf("the 503 leaks the cause: %q", p.Detail)
	}
}

// checkDegraded runs the part common to every fault: writes fail with 503,
// reads and streams go on, /readyz is false; then fix() and everything works
// again without a restart, with no hole in the room's sequence.
func checkDegraded(t *testing.T, s *Server, alice *Client, room string, st *Stream, acked []int64, fix func()) {
	t.Helper()
	anon := s.as(t, "anon", "")
	for i := 0; i < 3; i++ { // it stays refused, and a refusal changes nothing
		r := alice.Do("POST", "/api/v1/rooms/"+room+"/messages", map[string]string{"content": bigContent})
		wantUnavailable(t, r)
	}
	wantUnavailable(t, anon.Do("GET", "/readyz", nil))
	if r := anon.Do("GET", "/healthz", nil); r.Status != http.StatusOK {
		t.Fatalf("/healthz %d while degraded, want 200: the process is alive", r.Status)
	}
	page := alice.History(room, "?limit=1")
	if want := acked[len(acked)-1]; page.HeadSeq != want {
		t.Fatalf("head_seq %d while degraded, want %d: a refused write moved it", page.HeadSeq, want)
	}

	fix()
	waitFor(t, 10*time.Second, "a send to succeed after the fix", func() bool {
		return alice.Do("POST", "/api/v1/rooms/"+room+"/messages", map[string]string{"content": "recovered", "client_id": "after-fix"}).Status/100 == 2
	})
	waitFor(t, 10*time.Second, "/readyz after the fix", func() bool { return anon.Do("GET", "/readyz", nil).Status == http.StatusOK })

	// The stream saw every acknowledged message, then the one after the fix,
	// with dense seqs: nothing that failed took a seq or an event.
	last := acked[len(acked)-1]
	var after int64
	for {
		ev := st.NextRoomEvent(10 * time.Second)
		seq, _ := strconv.ParseInt(ev.ID, 10, 64)
		if seq > last {
			after = seq
			break
		}
	}
	if after != last+1 {
		t.Fatalf("first event after the fault has seq %d, want %d", after, last+1)
	}
	if strings.Contains(s.Logs.String(), `"msg":"panic"`) {
		t.Fatal("the server panicked")
	}
}

// A full SQLite database (PRAGMA max_page_count on the writer, as a full disk
// would) answers writes with 503 and /readyz false, keeps serving reads and
// streams, and recovers without a restart once there is room again.
func TestDegradedFullSQLite(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{HistoryLimit: 100_000}) // retention would free pages
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	st := bob.Stream(room)
	ctx := context.Background()
	pages, err := s.store.PageCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.SetMaxPages(ctx, pages); err != nil {
		t.Fatal(err)
	}
	acked := degradedWrites(t, alice, room, 2000)
	if len(acked) == 0 {
		acked = []int64{alice.History(room, "?limit=1").HeadSeq}
	}
	t.Logf("%d messages acknowledged before the database was full at %d pages", len(acked), pages)
	checkDegraded(t, s, alice, room, st, acked, func() {
		if _, err := s.store.SetMaxPages(ctx, 1<<30); err != nil {
			t.Fatal(err)
		}
	})
}

// A PostgreSQL database turned read-only under the running server answers
// writes with 503 and /readyz false, and recovers without a restart once it
// takes writes again.
func TestDegradedReadOnlyPostgres(t *testing.T) {
	t.Parallel()
	dsn := freshDatabase(t)
	u, _ := url.Parse(dsn)
	name := strings.TrimPrefix(u.Path, "/")
	admin, err := sql.Open("pgx", postgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	readOnly := func(on bool) {
		t.Helper()
		v := map[bool]string{true: "on", false: "off"}[on]
		if _, err := admin.Exec("ALTER DATABASE " + name + " SET default_transaction_read_only = " + v); err != nil {
			t.Fatal(err)
		}
		// Sessions read the setting when they start: end the server's.
		if _, err := admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err != nil {
			t.Fatal(err)
		}
	}

	s := StartServer(t, Options{DB: dsn})
	alice, bob := s.Client(t, "alice"), s.Client(t, "bob")
	room := coreRoom(t, alice, bob)
	st := bob.Stream(room)
	acked := []int64{alice.Send(room, "before").Seq}
	st.Collect(1, 5*time.Second)
	readOnly(true)
	waitFor(t, 10*time.Second, "a 503 on a read-only database", func() bool {
		r := alice.Do("POST", "/api/v1/rooms/"+room+"/messages", map[string]string{"content": "read-only?"})
		if r.Status == http.StatusCreated {
			t.Fatalf("a send was acknowledged on a read-only database: %s", r.Body)
		}
		return r.Status == http.StatusServiceUnavailable
	})
	checkDegraded(t, s, alice, room, st, acked, func() { readOnly(false) })
}
