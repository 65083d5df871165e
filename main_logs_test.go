package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// logLines decodes the server's JSON log lines.
func logLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// TestLogsForPeople: once listening, the log says where the demo page and
// Swagger UI are, as addresses that answer; durations read "3s", not
// 3000000000; and the last line says the server stopped.
func TestLogsForPeople(t *testing.T) {
	cases := []struct {
		name        string
		args        []string
		swaggerHere bool // Swagger UI on the public address
	}{
		{"public", nil, true},
		{"internal listener", []string{"-internal-addr", "localhost:0"}, false},
		{"swagger off", []string{"-swagger", "off"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CHAT_DB", filepath.Join(t.TempDir(), "chat.db"))
			t.Setenv("CHAT_JWT_SECRET", "")
			logs, stop := startRun(t, append([]string{"-addr", "127.0.0.1:0", "-shutdown-timeout", "3s"}, c.args...)...)
			var listening map[string]any
			for _, rec := range logLines(t, logs.String()) {
				if rec["msg"] == "listening" {
					listening = rec
				}
			}
			demo, _ := listening["demo_page"].(string)
			swagger, _ := listening["swagger_ui"].(string)
			if !strings.HasPrefix(demo, "http://127.0.0.1:") || !strings.HasSuffix(demo, "/") {
				t.Errorf("listening line: demo_page %q, want http://127.0.0.1:<port>/ (%v)", demo, listening)
			}
			if demo != "" {
				resp, err := http.Get(demo)
				if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
					t.Errorf("GET demo_page %s: %v %v, want the page", demo, resp, err)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
			switch {
			case c.name == "swagger off":
				if !strings.HasPrefix(swagger, "off") {
					t.Errorf("listening line: swagger_ui %q, want off", swagger)
				}
			case strings.HasPrefix(swagger, demo) != c.swaggerHere || !strings.HasSuffix(swagger, "/swagger/index.html"):
				t.Errorf("listening line: swagger_ui %q, want /swagger/index.html on the %s address (demo page %s)", swagger, c.name, demo)
			default:
				resp, err := http.Get(swagger)
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("GET swagger_ui %s: %v %v, want Swagger UI", swagger, resp, err)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
			if code := stop(); code != 0 {
				t.Fatalf("exit code %d, want 0", code)
			}

			lines := logLines(t, logs.String())
			if last := lines[len(lines)-1]; last["msg"] != "server stopped" || last["level"] != "INFO" {
				t.Errorf("last log line %v, want INFO \"server stopped\"", last)
			}
			durations := 0
			for _, rec := range lines {
				for _, key := range []string{"budget", "duration"} {
					v, ok := rec[key]
					if !ok {
						continue
					}
					durations++
					s, isString := v.(string)
					if _, err := time.ParseDuration(s); !isString || err != nil {
						t.Errorf("%q line: %s = %v, want a duration a person reads, like \"3s\"", rec["msg"], key, v)
					}
				}
			}
			if durations < 2 {
				t.Errorf("%d durations logged, want the requests' and the shutdown budget: %s", durations, logs.String())
			}
		})
	}
}
