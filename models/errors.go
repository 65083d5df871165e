package models

import (
	"errors"
	"fmt"
	"time"
)

// Domain errors. The api package maps each to one status and problem code; their
// text is safe to show to clients.
var (
	ErrUnauthorized     = errors.New("missing, malformed, expired or badly signed credentials")
	ErrNotParticipant   = errors.New("you have not joined this room")
	ErrForbidden        = errors.New("your role may not do this")
	ErrBanned           = errors.New("you are banned from this room")
	ErrMuted            = errors.New("you are muted in this room")
	ErrChatLocked       = errors.New("the room's chat is locked")
	ErrRateLimited      = errors.New("you are sending too fast")
	ErrNotFound         = errors.New("not found")
	ErrConflict         = errors.New("conflict")
	ErrInvalid          = errors.New("invalid request")
	ErrContentEmpty     = errors.New("content is empty")
	ErrContentTooLong   = errors.New("content is too long")
	ErrContentInvalid   = errors.New("content is not valid text")
	ErrTooLarge         = errors.New("request body is too large")
	ErrUnsupportedMedia = errors.New("request body must be application/json")
	ErrMethodNotAllowed = errors.New("method not allowed")
	ErrUnavailable      = errors.New("a backing service is unavailable; try again shortly")
	// ErrClientGone is a request whose client went away before its answer:
	// nobody reads what would be written, and it is nobody's failure.
	ErrClientGone = errors.New("client gone")
)

// Restriction is a refusal that ends at a known time: a mute, a temporary ban, a
// chat lock, or a rate limit. It wraps one of the sentinel errors above.
type Restriction struct {
	Err   error
	Until *time.Time
	// RetryAfter is how long the caller should wait before trying again.
	RetryAfter time.Duration
}

func (r *Restriction) Error() string {
	if r.Until != nil {
		return fmt.Sprintf("%v until %s", r.Err, r.Until.UTC().Format(time.RFC3339))
	}
	return r.Err.Error()
}

func (r *Restriction) Unwrap() error { return r.Err }

// invalidf returns an ErrInvalid-class error with a specific message.
func invalidf(format string, args ...any) error {
	return &detailed{err: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

// withDetail wraps a sentinel with a specific message for the client.
func withDetail(err error, format string, args ...any) error {
	return &detailed{err: err, msg: fmt.Sprintf(format, args...)}
}

type detailed struct {
	err error
	msg string
}

func (d *detailed) Error() string { return d.msg }
func (d *detailed) Unwrap() error { return d.err }

// Invalidf is invalidf for other packages: an ErrInvalid with a message.
func Invalidf(format string, args ...any) error { return invalidf(format, args...) }

// WithDetail is withDetail for other packages.
func WithDetail(err error, format string, args ...any) error { return withDetail(err, format, args...) }
