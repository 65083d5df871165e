package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
)

// coreRoom creates a room owned by owner that every member has joined.
func coreRoom(t testing.TB, owner *Client, members ...*Client) string {
	t.Helper()
	room := uniqueRoom(t)
	owner.CreateRoom(room)
	for _, m := range members {
		m.Join(room)
	}
	return room
}

// corePost sends a message without a testing.TB, so goroutines may call it; it
// returns the status and body, or an error when the request itself failed.
func corePost(s *Server, token, room string, body any) (int, []byte, error) {
	j, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest("POST", s.URL+"/api/v1/rooms/"+room+"/messages", bytes.NewReader(j))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// coreProblem checks that r is an RFC 9457 problem with status and code, and
// that its body agrees with the HTTP status.
func coreProblem(t testing.TB, r *Response, status int, code string) api.Problem {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status: got %d, want %d (body %s)", r.Status, status, r.Body)
	}
	p := r.Problem(t)
	switch {
	case p.Code != code:
		t.Fatalf("code: got %q, want %q (detail %q)", p.Code, code, p.Detail)
	case p.Status != status:
		t.Fatalf("problem status: got %d, want %d", p.Status, status)
	case p.Title == "" || p.Detail == "" || p.Type == "":
		t.Fatalf("problem: got type %q title %q detail %q, want all three set", p.Type, p.Title, p.Detail)
	}
	return p
}

// envelope decodes an event's data line: its envelope's type, seq and data
// of type T, checking that the envelope's type is the event line's.
func envelope[T any](t testing.TB, ev Event) (data T, seq int64) {
	t.Helper()
	var env struct {
		Type string `json:"type"`
		Seq  int64  `json:"seq"`
		Data T      `json:"data"`
	}
	if err := json.Unmarshal([]byte(ev.Data), &env); err != nil {
		t.Fatalf("event %s data %q: %v", ev.Type, ev.Data, err)
	}
	if env.Type != ev.Type {
		t.Fatalf("envelope type: got %q, want the event line's %q", env.Type, ev.Type)
	}
	return env.Data, env.Seq
}

// coreMessage decodes the RoomMessage of a message.created or message.updated
// event, checking that its id line and envelope agree.
func coreMessage(t testing.TB, ev Event) api.RoomMessage {
	t.Helper()
	m, seq := envelope[api.RoomMessage](t, ev)
	if ev.Type == "message.created" && (ev.ID != strconv.FormatInt(seq, 10) || m.Seq != seq) {
		t.Fatalf("seq: id line %q, envelope %d, message %d; want all equal", ev.ID, seq, m.Seq)
	}
	return m
}

// coreNext reads room events until n message.created events have arrived,
// and returns those messages.
func coreNext(t testing.TB, st *Stream, n int, timeout time.Duration) []api.RoomMessage {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var out []api.RoomMessage
	for len(out) < n {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("got %d messages within %s, want %d", len(out), timeout, n)
		}
		if ev := st.NextRoomEvent(left); ev.Type == "message.created" {
			out = append(out, coreMessage(t, ev))
		}
	}
	return out
}

// coreAll reads the room's whole retained history, oldest first.
func coreAll(t testing.TB, c *Client, room string) []api.RoomMessage {
	t.Helper()
	var out []api.RoomMessage
	for after := int64(0); ; {
		p := c.History(room, fmt.Sprintf("?after=%d&limit=100", after))
		out = append(out, p.Messages...)
		if !p.HasMore {
			return out
		}
		after = p.Messages[len(p.Messages)-1].Seq
	}
}

// coreSeqs lists the seq of each message.
func coreSeqs(ms []api.RoomMessage) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

// coreIncreasing fails unless seqs strictly increase.
func coreIncreasing(t testing.TB, what string, seqs []int64) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("%s: seq %d at %d follows %d; want strictly increasing", what, seqs[i], i, seqs[i-1])
		}
	}
}

// coreMetric reads one unlabelled sample from the server's /metrics.
func coreMetric(t testing.TB, s *Server, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// coreTexts numbers n messages: prefix-0 … prefix-(n-1).
func coreTexts(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// coreFirstLine opens path with token and returns the first line of the body.
func coreFirstLine(t testing.TB, s *Server, path, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	return line
}

// coreOpenStalled opens a stream over a raw connection, reads the response head,
// and then reads nothing more.
func coreOpenStalled(t *testing.T, s *Server, token, room string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /api/v1/rooms/%s/events HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n", room, token)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := coreReadUntil(conn, "\n")
	if err != nil || !strings.Contains(line, " 200 ") {
		t.Fatalf("stalled stream: got %q, %v; want 200", line, err)
	}
	return conn
}

// coreReadUntil reads conn a byte at a time, so that nothing after end is
// consumed, up to and including end.
func coreReadUntil(conn net.Conn, end string) (string, error) {
	var got strings.Builder
	b := make([]byte, 1)
	for !strings.HasSuffix(got.String(), end) {
		if _, err := conn.Read(b); err != nil {
			return got.String(), err
		}
		got.WriteByte(b[0])
	}
	return got.String(), nil
}

// coreReadToEOF reads conn until the server closes it.
func coreReadToEOF(conn net.Conn, timeout time.Duration) error {
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, conn)
	return err
}

// coreHead reads the rest of a response head from conn (after the status
// line coreOpenStalled read).
func coreHead(t *testing.T, conn net.Conn) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	head, err := coreReadUntil(conn, "\r\n\r\n")
	if err != nil {
		t.Fatalf("response head: %v after %q", err, head)
	}
	return head
}
