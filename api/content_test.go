package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// TestTextUnmarshal decodes message bodies as the handlers do: Text must refuse
// what Go's decoder would silently turn into U+FFFD.
func TestTextUnmarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// content is the raw JSON value of the content field.
		content string
		want    string
		err     error
	}{
		{"plain", `"hello"`, "hello", nil},
		{"escapes", `"a\nb\t\"c\"\\ \/"`, "a\nb\t\"c\"\\ /", nil},
		{"BMP escape", `"\u00e9\u202e"`, "é\u202e", nil},
		{"valid pair", `"\ud83d\ude00"`, "😀", nil},
		{"valid pair, upper case", `"\uD83D\uDE00"`, "😀", nil},
		{"highest pair", `"\udbff\udfff"`, "\U0010ffff", nil},
		{"raw multi-byte", `"😀 é"`, "😀 é", nil},
		{"U+FFFD is text", `"\ufffd�"`, "\ufffd\ufffd", nil},
		{"escaped backslash before u", `"\\ud800"`, `\ud800`, nil},
		{"NUL escape survives to the content rules", `"a\u0000b"`, "a\x00b", nil},
		{"empty", `""`, "", nil},

		{"raw invalid UTF-8", "\"a\xffb\"", "", models.ErrContentInvalid},
		{"raw truncated rune", "\"a\xe2\x82\"", "", models.ErrContentInvalid},
		{"raw encoded surrogate", "\"\xed\xa0\x80\"", "", models.ErrContentInvalid},
		{"lone high", `"\ud800"`, "", models.ErrContentInvalid},
		{"lone low", `"\udc00"`, "", models.ErrContentInvalid},
		{"high then text", `"\ud800x"`, "", models.ErrContentInvalid},
		{"high then BMP escape", `"\ud800\u0041"`, "", models.ErrContentInvalid},
		{"high then high", `"\ud800\ud800"`, "", models.ErrContentInvalid},
		{"low then high", `"\udc00\ud800"`, "", models.ErrContentInvalid},
		{"high then escaped newline", `"\ud800\n"`, "", models.ErrContentInvalid},
		{"high at the end", `"abc\udbff"`, "", models.ErrContentInvalid},
		{"pair then lone low", `"\ud83d\ude00\ude00"`, "", models.ErrContentInvalid},
		{"escaped backslash then lone", `"\\\ud800"`, "", models.ErrContentInvalid},

		{"number", `5`, "", models.ErrInvalid},
		{"null", `null`, "", models.ErrInvalid},
		{"true", `true`, "", models.ErrInvalid},
		{"array", `["a"]`, "", models.ErrInvalid},
		{"object", `{"a":"b"}`, "", models.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := `{"content":` + tt.content + `,"client_id":"c1"}`
			var req api.SendMessageRequest
			err := json.Unmarshal([]byte(body), &req)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Unmarshal(%q): got error %v, want %v", body, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%q): got error %v, want nil", body, err)
			}
			if string(req.Content) != tt.want {
				t.Errorf("Unmarshal(%q): got content %q, want %q", body, req.Content, tt.want)
			}
			if req.ClientID == nil || *req.ClientID != "c1" {
				t.Errorf("Unmarshal(%q): got client_id %v, want c1", body, req.ClientID)
			}
		})
	}
}

// TestTextEdit checks the same rules on the edit body.
func TestTextEdit(t *testing.T) {
	t.Parallel()
	var req api.EditMessageRequest
	if err := json.Unmarshal([]byte(`{"content":"\udfff"}`), &req); !errors.Is(err, models.ErrContentInvalid) {
		t.Errorf("edit with a lone low surrogate: got %v, want %v", err, models.ErrContentInvalid)
	}
}

func TestOptionalTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC)
	tests := []struct {
		name  string
		body  string
		set   bool
		value *time.Time
		err   error
	}{
		{"absent", `{}`, false, nil, nil},
		{"absent with other field", `{"slow_mode_seconds":10}`, false, nil, nil},
		{"null", `{"locked_until":null}`, true, nil, nil},
		{"UTC", `{"locked_until":"2026-11-25T10:00:00.123456Z"}`, true, &at, nil},
		{"offset", `{"locked_until":"2026-11-25T11:00:00.123456+01:00"}`, true, &at, nil},
		{"no fraction", `{"locked_until":"2026-11-25T10:00:00Z"}`, true, ptr(at.Truncate(time.Second)), nil},
		{"not RFC 3339", `{"locked_until":"25 Nov 2026"}`, false, nil, models.ErrInvalid},
		{"no zone", `{"locked_until":"2026-11-25T10:00:00"}`, false, nil, models.ErrInvalid},
		{"empty string", `{"locked_until":""}`, false, nil, models.ErrInvalid},
		{"number", `{"locked_until":1764064800}`, false, nil, models.ErrInvalid},
		{"bool", `{"locked_until":false}`, false, nil, models.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var req api.ChatUpdateRequest
			err := json.Unmarshal([]byte(tt.body), &req)
			if tt.err != nil || err != nil {
				if !errors.Is(err, tt.err) || tt.err == nil {
					t.Fatalf("Unmarshal(%s): got error %v, want %v", tt.body, err, tt.err)
				}
				return
			}
			got := req.LockedUntil
			if got.Set != tt.set {
				t.Errorf("Unmarshal(%s): got Set %v, want %v", tt.body, got.Set, tt.set)
			}
			switch {
			case (got.Value == nil) != (tt.value == nil):
				t.Errorf("Unmarshal(%s): got Value %v, want %v", tt.body, got.Value, tt.value)
			case got.Value != nil && !got.Value.Equal(*tt.value):
				t.Errorf("Unmarshal(%s): got Value %v, want %v", tt.body, *got.Value, *tt.value)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// FuzzText feeds raw JSON values to Text. Whatever it accepts is valid UTF-8,
// decodes as Go's decoder does, and has a U+FFFD only where the input wrote
// one; whatever it refuses is refused as invalid or content_invalid. Any valid
// string encoded by encoding/json comes back unchanged.
func FuzzText(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		var text api.Text
		err := text.UnmarshalJSON(raw)
		if err != nil {
			if !errors.Is(err, models.ErrInvalid) && !errors.Is(err, models.ErrContentInvalid) {
				t.Errorf("UnmarshalJSON(%q): got error %v, want invalid or content_invalid", raw, err)
			}
		} else {
			var want string
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("UnmarshalJSON(%q) accepted what encoding/json refuses: %v", raw, err)
			}
			if string(text) != want {
				t.Errorf("UnmarshalJSON(%q): got %q, want %q", raw, text, want)
			}
			if !utf8.ValidString(string(text)) {
				t.Errorf("UnmarshalJSON(%q) = %q: not valid UTF-8", raw, text)
			}
			if strings.ContainsRune(string(text), utf8.RuneError) &&
				!bytes.ContainsRune(raw, utf8.RuneError) && !bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`)) {
				t.Errorf("UnmarshalJSON(%q) = %q: a U+FFFD the input did not hold", raw, text)
			}
		}
		if s := string(raw); utf8.ValidString(s) {
			enc, _ := json.Marshal(s)
			var back api.Text
			if err := back.UnmarshalJSON(enc); err != nil || string(back) != s {
				t.Errorf("round trip of %q via %s: got %q, %v", s, enc, back, err)
			}
		}
	})
}
