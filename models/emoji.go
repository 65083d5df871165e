package models

import "unicode/utf8"

// MaxEmojiBytes bounds a reaction's emoji in UTF-8 bytes.
const MaxEmojiBytes = 32

// Code points that build emoji sequences (Unicode TS #51).
const (
	zwj          = 0x200D
	vs16         = 0xFE0F // emoji presentation selector
	keycapMark   = 0x20E3
	tagFirst     = 0xE0020
	tagLast      = 0xE007E
	tagCancel    = 0xE007F
	modFirst     = 0x1F3FB // skin tones
	modLast      = 0x1F3FF
	regionalLow  = 0x1F1E6
	regionalHigh = 0x1F1FF
)

// ValidEmoji checks a reaction's emoji: one emoji, written as a single
// grapheme cluster of at most MaxEmojiBytes. It accepts what TS #51 calls
// an emoji sequence: a pictograph (with an optional presentation selector
// or skin tone), a skin tone alone, a flag (two regional indicators, or a
// black flag with tags), a keycap, and pictographs joined by ZWJ (families,
// couples, the rainbow flag). Every such sequence is one grapheme cluster
// under UAX #29, so checking the grammar checks that too: two emoji side by
// side, letters, digits alone and control characters are refused.
func ValidEmoji(s string) error {
	if s == "" || len(s) > MaxEmojiBytes || !utf8.ValidString(s) || !emojiSequence([]rune(s)) {
		return Invalidf("a reaction is one emoji of at most %d bytes", MaxEmojiBytes)
	}
	return nil
}

// emojiSequence parses rs as one emoji sequence.
func emojiSequence(rs []rune) bool {
	switch {
	case len(rs) == 2 && regional(rs[0]) && regional(rs[1]): // a flag
		return true
	case len(rs) >= 2 && keycapBase(rs[0]): // 1️⃣, #️⃣, and 1⃣ without the selector
		rest := rs[1:]
		if rest[0] == vs16 {
			rest = rest[1:]
		}
		return len(rest) == 1 && rest[0] == keycapMark
	case len(rs) == 1 && modifier(rs[0]): // a skin tone swatch
		return true
	}
	// Pictographs, each with its selector, skin tone or tags, joined by ZWJ.
	i := 0
	for {
		n := pictographElement(rs[i:])
		if n == 0 {
			return false
		}
		i += n
		if i == len(rs) {
			return true
		}
		if rs[i] != zwj || i+1 == len(rs) {
			return false
		}
		i++
	}
}

// pictographElement is the length of the pictograph at the start of rs with
// what may follow it, or 0 when rs does not start with one.
func pictographElement(rs []rune) int {
	if len(rs) == 0 || !pictographic(rs[0]) {
		return 0
	}
	n := 1
	if n < len(rs) && rs[n] == vs16 {
		n++
	}
	if n < len(rs) && modifier(rs[n]) {
		n++
	}
	if n < len(rs) && rs[n] >= tagFirst && rs[n] <= tagLast { // a subdivision flag: tags, then cancel
		for n < len(rs) && rs[n] >= tagFirst && rs[n] <= tagLast {
			n++
		}
		if n == len(rs) || rs[n] != tagCancel {
			return 0
		}
		n++
	}
	return n
}

func regional(r rune) bool   { return r >= regionalLow && r <= regionalHigh }
func modifier(r rune) bool   { return r >= modFirst && r <= modLast }
func keycapBase(r rune) bool { return r == '#' || r == '*' || (r >= '0' && r <= '9') }

// pictographic reports the Extended_Pictographic property (Unicode 15,
// emoji-data.txt), which Go's unicode package does not carry.
func pictographic(r rune) bool {
	lo, hi := 0, len(pictographs)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case r < pictographs[m][0]:
			hi = m
		case r > pictographs[m][1]:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}

// pictographs are the Extended_Pictographic ranges, sorted.
var pictographs = [...][2]rune{
	{0x00A9, 0x00A9}, {0x00AE, 0x00AE}, {0x203C, 0x203C}, {0x2049, 0x2049}, {0x2122, 0x2122},
	{0x2139, 0x2139}, {0x2194, 0x2199}, {0x21A9, 0x21AA}, {0x231A, 0x231B}, {0x2328, 0x2328},
	{0x2388, 0x2388}, {0x23CF, 0x23CF}, {0x23E9, 0x23F3}, {0x23F8, 0x23FA}, {0x24C2, 0x24C2},
	{0x25AA, 0x25AB}, {0x25B6, 0x25B6}, {0x25C0, 0x25C0}, {0x25FB, 0x25FE}, {0x2600, 0x2605},
	{0x2607, 0x2612}, {0x2614, 0x2685}, {0x2690, 0x2705}, {0x2708, 0x2712}, {0x2714, 0x2714},
	{0x2716, 0x2716}, {0x271D, 0x271D}, {0x2721, 0x2721}, {0x2728, 0x2728}, {0x2733, 0x2734},
	{0x2744, 0x2744}, {0x2747, 0x2747}, {0x274C, 0x274C}, {0x274E, 0x274E}, {0x2753, 0x2755},
	{0x2757, 0x2757}, {0x2763, 0x2767}, {0x2795, 0x2797}, {0x27A1, 0x27A1}, {0x27B0, 0x27B0},
	{0x27BF, 0x27BF}, {0x2934, 0x2935}, {0x2B05, 0x2B07}, {0x2B1B, 0x2B1C}, {0x2B50, 0x2B50},
	{0x2B55, 0x2B55}, {0x3030, 0x3030}, {0x303D, 0x303D}, {0x3297, 0x3297}, {0x3299, 0x3299},
	{0x1F000, 0x1F0FF}, {0x1F10D, 0x1F10F}, {0x1F12F, 0x1F12F}, {0x1F16C, 0x1F171}, {0x1F17E, 0x1F17F},
	{0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F1AD, 0x1F1E5}, {0x1F201, 0x1F20F}, {0x1F21A, 0x1F21A},
	{0x1F22F, 0x1F22F}, {0x1F232, 0x1F23A}, {0x1F23C, 0x1F23F}, {0x1F249, 0x1F3FA}, {0x1F400, 0x1F53D},
	{0x1F546, 0x1F64F}, {0x1F680, 0x1F6FF}, {0x1F774, 0x1F77F}, {0x1F7D5, 0x1F7FF}, {0x1F80C, 0x1F80F},
	{0x1F848, 0x1F84F}, {0x1F85A, 0x1F85F}, {0x1F888, 0x1F88F}, {0x1F8AE, 0x1F8FF}, {0x1F90C, 0x1F93A},
	{0x1F93C, 0x1F945}, {0x1F947, 0x1FAFF}, {0x1FC00, 0x1FFFD},
}
