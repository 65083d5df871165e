package models

import (
	"strings"
	"testing"
)

func TestValidEmoji(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, emoji string
		ok          bool
	}{
		{"thumbs up", "👍", true},
		{"red heart with selector", "❤️", true},
		{"red heart, text default", "❤", true},
		{"copyright sign", "©️", true},
		{"skin tone", "👋🏽", true},
		{"skin tone alone", "🏿", true},
		{"flag", "🇫🇷", true},
		{"flag of England (tags)", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", true},
		{"keycap one", "1️⃣", true},
		{"keycap hash", "#️⃣", true},
		{"keycap without selector", "*⃣", true},
		{"ZWJ family", "👨‍👩‍👧‍👦", true},
		{"ZWJ family with skin tones", "👨🏻‍👩🏻‍👦🏻", true},
		{"rainbow flag", "🏳️‍🌈", true},
		{"kiss", "👩‍❤️‍💋‍👨", true},
		{"astronaut with skin tone", "🧑🏾‍🚀", true},
		{"newest block", "🫠", true},

		{"empty", "", false},
		{"a letter", "a", false},
		{"a word", "ok", false},
		{"a digit alone", "1", false},
		{"hash alone", "#", false},
		{"CJK", "好", false},
		{"two emoji", "👍👍", false},
		{"emoji then letter", "👍a", false},
		{"three regional indicators", "🇫🇷🇩", false},
		{"one regional indicator", "🇫", false},
		{"ZWJ at the end", "👍\u200d", false},
		{"ZWJ at the start", "\u200d👍", false},
		{"selector alone", "\ufe0f", false},
		{"NUL", "\x00", false},
		{"newline after", "👍\n", false},
		{"tab", "\t", false},
		{"DEL", "\x7f", false},
		{"C1", "\u0085", false},
		{"flag joined by ZWJ", "🇫🇷\u200d👍", false},
		{"tags without cancel", "🏴\U000E0067\U000E0062", false},
		{"invalid UTF-8", "\xf0\x9f\x91", false},
		{"33-byte cluster", "👨🏻‍👩🏻‍👧‍👦", false},
		{"too long a ZWJ chain", strings.Repeat("👍\u200d", 10) + "👍", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidEmoji(tc.emoji)
			if got := err == nil; got != tc.ok {
				t.Errorf("ValidEmoji(%q) (%d bytes) = %v, want ok %v", tc.emoji, len(tc.emoji), err, tc.ok)
			}
		})
	}
	if n := len("👨🏻‍👩🏻‍👧‍👦"); n != 33 {
		t.Fatalf("the 33-byte case has %d bytes", n)
	}
}
