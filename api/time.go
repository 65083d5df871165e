package api

import "time"

// TimeFormat is RFC 3339 in UTC with microseconds, always the same length.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// Time formats t per TimeFormat; nil stays nil.
func Time(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(TimeFormat)
	return &s
}

func ts(t time.Time) string { return t.UTC().Format(TimeFormat) }
