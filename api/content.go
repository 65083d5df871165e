package api

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/resonate/resonate-chat/models"
)

// Text is a JSON string checked on its raw bytes before decoding: Go's decoder
// would silently turn invalid UTF-8 and lone surrogate escapes into U+FFFD.
// Control characters (\u0000 included) survive decoding and are refused later
// by models.NormalizeContent.
type Text string

// UnmarshalJSON checks the raw string and decodes it.
func (t *Text) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '"' {
		return models.Invalidf("content must be a string")
	}
	if !utf8.Valid(b) {
		return models.WithDetail(models.ErrContentInvalid, "content is not valid UTF-8")
	}
	if err := checkSurrogates(b); err != nil {
		return err
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return models.Invalidf("content must be a string")
	}
	*t = Text(s)
	return nil
}

// checkSurrogates refuses \u escapes of UTF-16 surrogates that do not form a
// high-low pair.
func checkSurrogates(b []byte) error {
	bad := models.WithDetail(models.ErrContentInvalid, "content has a lone surrogate escape")
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		i++
		if i >= len(b) || b[i] != 'u' {
			continue
		}
		r, ok := hex4(b, i+1)
		if !ok {
			continue // the decoder reports the syntax error
		}
		i += 4
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return bad
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(b) || b[i+1] != '\\' || b[i+2] != 'u' {
				return bad
			}
			lo, ok := hex4(b, i+3)
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return bad
			}
			i += 6
		}
	}
	return nil
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[at:at+4]), 16, 32)
	return rune(v), err == nil
}

// OptionalTime is a JSON field that distinguishes absent, null and a time.
type OptionalTime struct {
	Set   bool
	Value *time.Time
}

// UnmarshalJSON records that the field was given.
func (o *OptionalTime) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(b, []byte("null")) {
		o.Value = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return models.Invalidf("locked_until must be an RFC 3339 time or null")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return models.Invalidf("locked_until must be an RFC 3339 time or null")
	}
	o.Value = &t
	return nil
}
