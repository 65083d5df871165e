package models

import (
	"errors"
	"fmt"
	"time"
)

// Error is a domain error: a refusal by a rule, a request the rules cannot
// take, or a database that is unavailable. Code is the contract's code for it
// (the api package maps each code to one status); Detail is safe to show to
// clients. A refusal that ends at a known time (a mute, a temporary ban, a
// chat lock, a rate limit) says when in Until and RetryAfter.
//
// The sentinels below are the codes; one with a detail or an end is a copy
// (see WithDetail, Restricted). errors.Is matches any Error of the same code,
// and errors.As finds the Error to answer with.
type Error struct {
	Code   string
	Detail string
	// Until is when a restriction ends; nil when it does not or never ends.
	Until *time.Time
	// RetryAfter is how long the caller should wait before trying again.
	RetryAfter time.Duration
	// cause is what failed behind an unavailable database, for the log.
	cause error
}

// Domain errors, one per code.
var (
	ErrUnauthorized   = &Error{Code: "unauthorized", Detail: "missing, malformed, expired or badly signed credentials"}
	ErrNotParticipant = &Error{Code: "not_participant", Detail: "you have not joined this room"}
	ErrForbidden      = &Error{Code: "forbidden", Detail: "your role may not do this"}
	ErrBanned         = &Error{Code: "banned", Detail: "you are banned from this room"}
	ErrMuted          = &Error{Code: "muted", Detail: "you are muted in this room"}
	ErrChatLocked     = &Error{Code: "chat_locked", Detail: "the room's chat is locked"}
	ErrRateLimited    = &Error{Code: "rate_limited", Detail: "you are sending too fast"}
	ErrNotFound       = &Error{Code: "not_found", Detail: "not found"}
	ErrConflict       = &Error{Code: "conflict", Detail: "conflict"}
	ErrInvalid        = &Error{Code: "invalid", Detail: "invalid request"}
	ErrContentEmpty   = &Error{Code: "content_empty", Detail: "content is empty"}
	ErrContentTooLong = &Error{Code: "content_too_long", Detail: "content is too long"}
	ErrContentInvalid = &Error{Code: "content_invalid", Detail: "content is not valid text"}
	ErrUnavailable    = &Error{Code: "unavailable", Detail: "a backing service is unavailable; try again shortly"}
)

func (e *Error) Error() string {
	if e.Until != nil {
		return fmt.Sprintf("%s until %s", e.Detail, e.Until.UTC().Format(time.RFC3339))
	}
	return e.Detail
}

// Is reports whether target is an Error of the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func (e *Error) Unwrap() error { return e.cause }

// WithDetail is err, an Error or one wrapped, with a specific message for the
// client.
func WithDetail(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	var e *Error
	if !errors.As(err, &e) {
		return fmt.Errorf("%s: %w", msg, err)
	}
	d := *e
	d.Detail = msg
	return &d
}

// Invalidf is an ErrInvalid with a specific message.
func Invalidf(format string, args ...any) error { return WithDetail(ErrInvalid, format, args...) }

// Restricted is err, an Error or one wrapped, as a refusal that ends at until
// (nil: not at a known time), to be tried again after retryAfter.
func Restricted(err error, until *time.Time, retryAfter time.Duration) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	r := *e
	r.Until, r.RetryAfter = until, retryAfter
	return &r
}

// unavailable is a database failure: an ErrUnavailable for clients, with its
// cause kept for the log.
func unavailable(cause error) error {
	return &Error{Code: ErrUnavailable.Code, Detail: "database: " + cause.Error(), cause: cause}
}

// refused reports a use case saying no by a rule (any domain error but an
// unavailable database), which happens before it writes and leaves the
// transaction as it was.
func refused(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code != ErrUnavailable.Code
}
