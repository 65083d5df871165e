package models

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// NormalizeContent applies the content rules of the contract and returns the
// text to store: CR LF and lone CR become LF, any other control character (C0
// but tab and newline, DEL, C1) is refused wherever it stands, invalid UTF-8 is
// refused, leading and trailing white space is trimmed, and the rest must be 1
// to max code points long.
func NormalizeContent(s string, max int) (string, error) {
	if !utf8.ValidString(s) {
		return "", WithDetail(ErrContentInvalid, "content is not valid UTF-8")
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	for i, r := range s {
		if isForbiddenControl(r) {
			return "", WithDetail(ErrContentInvalid, "content has control character U+%04X at byte %d", r, i)
		}
	}
	s = strings.TrimFunc(s, unicode.IsSpace)
	if s == "" {
		return "", WithDetail(ErrContentEmpty, "content is empty after trimming white space")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", WithDetail(ErrContentTooLong, "content is %d code points; the limit is %d", n, max)
	}
	return s, nil
}

func isForbiddenControl(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	}
	return false
}
