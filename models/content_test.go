package models_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/resonate/resonate-chat/models"
)

// maxContent is the contract's default content limit.
const maxContent = 2000

func TestNormalizeContent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		max  int
		want string
		err  error
	}{
		{"plain", "hello, room", maxContent, "hello, room", nil},
		{"trimmed", " \t\n hello \r\n\t ", maxContent, "hello", nil},
		{"unicode spaces trimmed", "\u00a0\u2003hi\u3000\u2028", maxContent, "hi", nil},
		{"inner white space kept", "a  \t b\n\nc", maxContent, "a  \t b\n\nc", nil},
		{"CRLF to LF", "a\r\nb", maxContent, "a\nb", nil},
		{"lone CR to LF", "a\rb", maxContent, "a\nb", nil},
		{"LF CR is two breaks", "a\n\rb", maxContent, "a\n\nb", nil},
		{"CR CR LF", "a\r\r\nb", maxContent, "a\n\nb", nil},
		{"tab and newline allowed", "a\tb\nc", maxContent, "a\tb\nc", nil},
		{"bidi override kept verbatim", "abc\u202edef\u202c", maxContent, "abc\u202edef\u202c", nil},
		{"zero width joiner kept", "👩\u200d💻", maxContent, "👩\u200d💻", nil},
		{"U+FFFD itself is text", "\ufffd", maxContent, "\ufffd", nil},
		{"U+00A0 inside kept", "a\u00a0b", maxContent, "a\u00a0b", nil},

		{"empty", "", maxContent, "", models.ErrContentEmpty},
		{"spaces only", "   ", maxContent, "", models.ErrContentEmpty},
		{"white space only", " \t\r\n\r \u00a0\u3000", maxContent, "", models.ErrContentEmpty},

		{"2000 ASCII", strings.Repeat("a", 2000), maxContent, strings.Repeat("a", 2000), nil},
		{"2001 ASCII", strings.Repeat("a", 2001), maxContent, "", models.ErrContentTooLong},
		{"2000 two-byte runes", strings.Repeat("é", 2000), maxContent, strings.Repeat("é", 2000), nil},
		{"2001 two-byte runes", strings.Repeat("é", 2001), maxContent, "", models.ErrContentTooLong},
		{"2000 four-byte runes", strings.Repeat("😀", 2000), maxContent, strings.Repeat("😀", 2000), nil},
		{"2001 four-byte runes", strings.Repeat("😀", 2001), maxContent, "", models.ErrContentTooLong},
		{"2000 after trimming", "  \n" + strings.Repeat("ж", 2000) + "\t \r\n", maxContent, strings.Repeat("ж", 2000), nil},
		{"CRLF counts as one", strings.Repeat("a\r\n", 999) + "ab", maxContent, strings.Repeat("a\n", 999) + "ab", nil},
		{"CRLF counts as one, over", strings.Repeat("a\r\n", 1000) + "a", maxContent, "", models.ErrContentTooLong},
		{"other limit", "abcd", 3, "", models.ErrContentTooLong},

		{"invalid UTF-8", "a\xffb", maxContent, "", models.ErrContentInvalid},
		{"truncated rune", "a\xe2\x82", maxContent, "", models.ErrContentInvalid},
		{"overlong encoding", "\xc0\xaf", maxContent, "", models.ErrContentInvalid},
		{"encoded surrogate", "\xed\xa0\x80", maxContent, "", models.ErrContentInvalid},
		{"invalid UTF-8 in white space", "  \xff  ", maxContent, "", models.ErrContentInvalid},
		{"NUL", "a\x00b", maxContent, "", models.ErrContentInvalid},
		{"NUL at the end", "ab\x00", maxContent, "", models.ErrContentInvalid},
		{"bell", "a\ab", maxContent, "", models.ErrContentInvalid},
		{"escape", "\x1b[31mred", maxContent, "", models.ErrContentInvalid},
		{"vertical tab", "a\vb", maxContent, "", models.ErrContentInvalid},
		{"form feed", "a\fb", maxContent, "", models.ErrContentInvalid},
		{"unit separator", "a\x1fb", maxContent, "", models.ErrContentInvalid},
		{"control in trimmed space", " \x0b ", maxContent, "", models.ErrContentInvalid},
		{"DEL", "a\x7fb", maxContent, "", models.ErrContentInvalid},
		{"C1 first", "a\u0080b", maxContent, "", models.ErrContentInvalid},
		{"C1 NEL", "a\u0085b", maxContent, "", models.ErrContentInvalid},
		{"C1 NEL as trailing space", "ab\u0085", maxContent, "", models.ErrContentInvalid},
		{"C1 last", "a\u009fb", maxContent, "", models.ErrContentInvalid},
		{"control beyond the limit", strings.Repeat("a", 3000) + "\x00", maxContent, "", models.ErrContentInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := models.NormalizeContent(tt.in, tt.max)
			if !errors.Is(err, tt.err) || (err != nil && tt.err == nil) {
				t.Fatalf("NormalizeContent(%.40q): got error %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("NormalizeContent(%.40q): got %.40q, want %.40q", tt.in, got, tt.want)
			}
		})
	}
}

// forbidden is the contract's list of control characters refused in content.
func forbidden(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f)
}

func FuzzNormalizeContent(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string, max uint16) {
		limit := int(max%2100) + 1
		out, err := models.NormalizeContent(in, limit)
		if err != nil {
			if out != "" {
				t.Errorf("NormalizeContent(%q, %d): got %q with error %v, want \"\"", in, limit, out, err)
			}
			switch {
			case errors.Is(err, models.ErrContentInvalid), errors.Is(err, models.ErrContentEmpty), errors.Is(err, models.ErrContentTooLong):
			default:
				t.Errorf("NormalizeContent(%q, %d): got error %v, want a content error", in, limit, err)
			}
			if errors.Is(err, models.ErrContentInvalid) && utf8.ValidString(in) && !strings.ContainsFunc(in, forbidden) {
				t.Errorf("NormalizeContent(%q, %d): got %v for valid text without controls", in, limit, err)
			}
			return
		}
		if !utf8.ValidString(out) {
			t.Errorf("NormalizeContent(%q, %d) = %q: not valid UTF-8", in, limit, out)
		}
		if i := strings.IndexFunc(out, forbidden); i >= 0 {
			t.Errorf("NormalizeContent(%q, %d) = %q: control character at byte %d", in, limit, out, i)
		}
		if strings.Contains(out, "\r") {
			t.Errorf("NormalizeContent(%q, %d) = %q: has a CR", in, limit, out)
		}
		if out == "" || strings.TrimFunc(out, unicode.IsSpace) != out {
			t.Errorf("NormalizeContent(%q, %d) = %q: want non-empty and trimmed", in, limit, out)
		}
		if n := utf8.RuneCountInString(out); n > limit {
			t.Errorf("NormalizeContent(%q, %d) = %q: %d code points, want ≤ %d", in, limit, out, n, limit)
		}
		if want := strings.TrimFunc(strings.ReplaceAll(strings.ReplaceAll(in, "\r\n", "\n"), "\r", "\n"), unicode.IsSpace); out != want {
			t.Errorf("NormalizeContent(%q, %d): got %q, want %q", in, limit, out, want)
		}
		if again, err := models.NormalizeContent(out, limit); err != nil || again != out {
			t.Errorf("NormalizeContent is not idempotent on %q: got %q, %v", out, again, err)
		}
	})
}
