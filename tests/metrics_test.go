package tests

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// /metrics tells an operator what the issue asks: open streams, events
// published and delivered, sends and store transactions by how long they
// took, requests by route template and status, and never a raw path.
func TestMetrics(t *testing.T) {
	t.Parallel()
	s := StartServer(t, Options{})
	alice, bob, mallory := s.Client(t, "alice"), s.Client(t, "bob"), s.Client(t, "mallory")
	room := coreRoom(t, alice, bob)
	st := bob.Stream(room)
	const sends = 5
	for _, text := range coreTexts("m", sends) {
		alice.Send(room, text)
	}
	coreNext(t, st, sends, 2*time.Second)
	if r := mallory.Do("POST", "/api/v1/rooms/"+room+"/messages", map[string]string{"content": "let me in"}); r.Status != http.StatusForbidden {
		t.Fatalf("send by a non-participant: got %d, want 403", r.Status)
	}

	for _, tc := range []struct {
		sample string
		want   func(float64) bool
		says   string
	}{
		{"chat_open_streams", eq(1), "1"},
		{"chat_events_published_total", eq(sends + 2), "7: alice and bob joined, 5 messages"},
		{"chat_events_delivered_total", atLeast(sends), "≥ 5"},
		{`chat_send_duration_seconds_count{outcome="accepted"}`, eq(sends), "5"},
		{`chat_send_duration_seconds_count{outcome="refused"}`, eq(1), "1"},
		{`chat_store_duration_seconds_count{op="write"}`, atLeast(sends + 2), "≥ 7"},
		{`chat_store_duration_seconds_count{op="read"}`, atLeast(1), "≥ 1"},
		{"chat_store_group_commit_writes_count", atLeast(1), "≥ 1 (SQLite)"},
		{`chat_http_requests_total{method="POST",route="/api/v1/rooms/:room/messages",status="201"}`, eq(sends), "5"},
		{`chat_http_requests_total{method="POST",route="/api/v1/rooms/:room/messages",status="403"}`, eq(1), "1"},
	} {
		if got := coreMetric(t, s, tc.sample); !tc.want(got) {
			t.Errorf("%s: got %v, want %s", tc.sample, got, tc.says)
		}
	}
	text := string(alice.Do("GET", "/metrics", nil).Body)
	switch {
	case strings.Contains(text, room):
		t.Errorf("/metrics holds the raw room id %q: series per room", room)
	case strings.Contains(text, `chat_http_request_duration_seconds_count{method="GET",route="/api/v1/rooms/:room/events"}`):
		t.Errorf("the stream route is in the request latency histogram")
	case !strings.Contains(text, `chat_http_request_duration_seconds_count{method="POST",route="/api/v1/rooms/:room/messages"}`):
		t.Errorf("no request latency for the send route")
	}
}

func eq(v float64) func(float64) bool      { return func(got float64) bool { return got == v } }
func atLeast(v float64) func(float64) bool { return func(got float64) bool { return got >= v } }
