package tests

// Clients that go away mid-request, over raw sockets: a half-close
// (shutdown(SHUT_WR)) and a connection dropped mid-body. Such a request is
// never a 5xx nor an ERROR: nothing is written to it, it is logged as "client
// gone" and counted under status 499.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/handlers/identity"
)

// halfClosed sends raw on a new connection, shuts down its write side as a
// client does with shutdown(SHUT_WR), and returns everything the server
// writes before it closes the connection.
func halfClosed(t *testing.T, s *Server, raw string) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("reading after a half-close: %v (got %q)", err, got)
	}
	return string(got)
}

// requestsByStatus sums chat_http_requests_total by status for route.
func requestsByStatus(t *testing.T, s *Server, route string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "chat_http_requests_total{") || !strings.Contains(line, `route="`+route+`"`) {
			continue
		}
		var status string
		var n float64
		i := strings.Index(line, `status="`)
		if _, err := fmt.Sscanf(line[i+len(`status="`):], "%3s\"} %g", &status, &n); err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[status] += n
	}
	return out
}

func TestClientGone(t *testing.T) {
	t.Parallel()
	aw := newAppwrite(t)
	aw.setMode("slow") // Appwrite answers only after the client has gone
	s := StartServer(t, Options{Verifiers: []identity.Verifier{identity.NewAppwrite(identity.AppwriteOptions{
		Endpoint: aw.URL + "/v1", Project: "resonate", Timeout: 5 * time.Second})}})
	alice := s.Client(t, "alice")
	room := coreRoom(t, alice)
	messages := "/api/v1/rooms/" + room + "/messages"
	post := func(body string, length int) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			messages, alice.Token, length, body)
	}

	// Half-closed while a verifier asks Appwrite: nothing comes back.
	for i := range 3 {
		jwt := aw.jwt(t, fmt.Sprintf("65f1gone%d", i), "Gone", 15*time.Minute, false)
		if got := halfClosed(t, s, "GET /api/v1/rooms/"+room+" HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "+jwt+"\r\n\r\n"); got != "" {
			t.Fatalf("half-closed during verification: the server wrote %q, want nothing", got)
		}
	}
	// Half-closed in the middle of the body: nothing comes back.
	if got := halfClosed(t, s, post(`{"content":"cut sh`, 200)); got != "" {
		t.Fatalf("half-closed mid-body: the server wrote %q, want nothing", got)
	}
	// Dropped (reset) in the middle of the body.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(conn, post(`{"content":"dropp`, 200))
	_ = conn.(*net.TCPConn).SetLinger(0)
	conn.Close()
	// Half-closed right after a whole send: the send may win the race (then
	// its 201 comes back whole) or the client's leaving may (nothing comes
	// back), never an error.
	for i := range 30 {
		body := fmt.Sprintf(`{"content":"sent %d"}`, i)
		got := halfClosed(t, s, post(body, len(body)))
		if got != "" && !strings.HasPrefix(got, "HTTP/1.1 201 ") {
			t.Fatalf("half-closed after a send: got %q, want a 201 or nothing", got)
		}
	}

	waitFor(t, 5*time.Second, "the dropped request to be counted", func() bool {
		return requestsByStatus(t, s, "/api/v1/rooms/:room/messages")["499"] >= 2
	})
	getRoom := requestsByStatus(t, s, "/api/v1/rooms/:room")
	sends := requestsByStatus(t, s, "/api/v1/rooms/:room/messages")
	t.Logf("GET room by status: %v; POST messages by status: %v", getRoom, sends)
	if getRoom["499"] != 3 || sends["499"]+sends["201"] != 32 {
		t.Errorf("chat_http_requests_total: GET room %v, POST messages %v; want 3 at 499, and 32 at 499 or 201", getRoom, sends)
	}
	for _, by := range []map[string]float64{getRoom, sends} {
		for status, n := range by {
			if status >= "400" && status != "499" && n > 0 {
				t.Errorf("chat_http_requests_total: %v at %s, want none but 499", n, status)
			}
		}
	}
	logs := s.Logs.String()
	if strings.Contains(logs, `"level":"ERROR"`) || strings.Contains(logs, "Appwrite could not verify") {
		t.Errorf("logs: an error or an Appwrite warning for clients that went away:\n%s", logs)
	}
	if n := strings.Count(logs, `"level":"INFO","msg":"client gone"`); n < 5 {
		t.Errorf("logs: %d request lines say \"client gone\" at info, want at least 5", n)
	}
}
