package handlers

import (
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/models"
)

// paramsContext is a gin context for a GET with the given Last-Event-ID
// header (none when empty) and raw query.
func paramsContext(lastEventID, rawQuery string) *gin.Context {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/", RawQuery: rawQuery}, Header: http.Header{}}
	if lastEventID != "" {
		c.Request.Header.Set("Last-Event-ID", lastEventID)
	}
	return c
}

func TestResumePoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header, query string
		want                *int64
		err                 error
	}{
		{"none", "", "", nil, nil},
		{"other query", "", "ticket=x", nil, nil},
		{"header", "42", "", ptr64(42), nil},
		{"header zero", "0", "", ptr64(0), nil},
		{"query", "", "last_event_id=7", ptr64(7), nil},
		{"header wins", "5", "last_event_id=7", ptr64(5), nil},
		{"largest", "9223372036854775806", "", ptr64(math.MaxInt64 - 1), nil},
		{"MaxInt64 is no seq", "9223372036854775807", "", nil, models.ErrInvalid},
		{"overflow", "9223372036854775808", "", nil, models.ErrInvalid},
		{"negative", "-1", "", nil, models.ErrInvalid},
		{"not a number", "abc", "", nil, models.ErrInvalid},
		{"fraction", "1.5", "", nil, models.ErrInvalid},
		{"hex", "0x10", "", nil, models.ErrInvalid},
		{"inner space", "1 2", "", nil, models.ErrInvalid},
		{"empty query value", "", "last_event_id=", nil, models.ErrInvalid},
		{"bad query value", "", "last_event_id=x", nil, models.ErrInvalid},
		{"bad header, good query", "x", "last_event_id=7", nil, models.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := resumePoint(paramsContext(tt.header, tt.query))
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("resumePoint(%q, %q): got error %v, want %v", tt.header, tt.query, err, tt.err)
			}
			if !equal64(got, tt.want) {
				t.Errorf("resumePoint(%q, %q): got %v, want %v", tt.header, tt.query, str64(got), str64(tt.want))
			}
		})
	}
}

func TestHistoryQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query         string
		limit         int
		before, after *int64
		err           error
	}{
		{"", 0, nil, nil, nil},
		{"limit=1", 1, nil, nil, nil},
		{"limit=100&before=5", 100, ptr64(5), nil, nil},
		{"after=0", 0, nil, ptr64(0), nil},
		{"before=9223372036854775807", 0, ptr64(math.MaxInt64), nil, nil},
		{"limit=0", 0, nil, nil, models.ErrInvalid},
		{"limit=101", 0, nil, nil, models.ErrInvalid},
		{"limit=-1", 0, nil, nil, models.ErrInvalid},
		{"limit=", 0, nil, nil, models.ErrInvalid},
		{"limit", 0, nil, nil, models.ErrInvalid},
		{"limit=ten", 0, nil, nil, models.ErrInvalid},
		{"limit=1e2", 0, nil, nil, models.ErrInvalid},
		{"limit=5&limit=5", 0, nil, nil, models.ErrInvalid},
		{"before=0", 0, nil, nil, models.ErrInvalid},
		{"before=9223372036854775808", 0, nil, nil, models.ErrInvalid},
		{"after=-1", 0, nil, nil, models.ErrInvalid},
		{"after=1.0", 0, nil, nil, models.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			q, err := historyQuery(paramsContext("", tt.query))
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("historyQuery(%q): got error %v, want %v", tt.query, err, tt.err)
			}
			if err != nil {
				return
			}
			if q.Limit != tt.limit || !equal64(q.Before, tt.before) || !equal64(q.After, tt.after) {
				t.Errorf("historyQuery(%q): got limit %d before %s after %s, want %d %s %s", tt.query,
					q.Limit, str64(q.Before), str64(q.After), tt.limit, str64(tt.before), str64(tt.after))
			}
		})
	}
}

// FuzzResumePoint: a resume point is accepted exactly when it is a decimal
// seq in [0, MaxInt64), from the header if there is one, else the query.
func FuzzResumePoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, header, rawQuery string) {
		got, err := resumePoint(paramsContext(header, rawQuery))
		v, given := header, header != ""
		if !given {
			var vals []string
			vals, given = (&url.URL{RawQuery: rawQuery}).Query()["last_event_id"]
			if given {
				v = vals[0]
			}
		}
		if !given {
			if got != nil || err != nil {
				t.Errorf("resumePoint(%q, %q): got %s, %v; want none", header, rawQuery, str64(got), err)
			}
			return
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < 0 || n == math.MaxInt64 {
			if got != nil || !errors.Is(err, models.ErrInvalid) {
				t.Errorf("resumePoint(%q, %q): got %s, %v; want %v", header, rawQuery, str64(got), err, models.ErrInvalid)
			}
			return
		}
		if err != nil || got == nil || *got != n {
			t.Errorf("resumePoint(%q, %q): got %s, %v; want %d", header, rawQuery, str64(got), err, n)
		}
	})
}

// FuzzQueryInt: an integer query value is accepted exactly when it is given
// once and parses within its bounds.
func FuzzQueryInt(f *testing.F) {
	f.Fuzz(func(t *testing.T, rawQuery string, lo, hi int64) {
		if lo > hi {
			lo, hi = hi, lo
		}
		got, err := queryInt(paramsContext("", rawQuery), "n", lo, hi)
		vals := (&url.URL{RawQuery: rawQuery}).Query()["n"]
		switch {
		case len(vals) == 0:
			if got != nil || err != nil {
				t.Errorf("queryInt(%q): got %s, %v; want none", rawQuery, str64(got), err)
			}
			return
		case len(vals) > 1:
			if got != nil || !errors.Is(err, models.ErrInvalid) {
				t.Errorf("queryInt(%q) with %d values: got %s, %v; want %v", rawQuery, len(vals), str64(got), err, models.ErrInvalid)
			}
			return
		}
		n, perr := strconv.ParseInt(vals[0], 10, 64)
		if perr != nil || n < lo || n > hi {
			if got != nil || !errors.Is(err, models.ErrInvalid) {
				t.Errorf("queryInt(%q, %d, %d): got %s, %v; want %v", rawQuery, lo, hi, str64(got), err, models.ErrInvalid)
			}
			return
		}
		if err != nil || got == nil || *got != n {
			t.Errorf("queryInt(%q, %d, %d): got %s, %v; want %d", rawQuery, lo, hi, str64(got), err, n)
		}
	})
}

func ptr64(n int64) *int64 { return &n }

func equal64(a, b *int64) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

func str64(p *int64) string {
	if p == nil {
		return "nil"
	}
	return strconv.FormatInt(*p, 10)
}
