// Package api is the wire contract: request and response types, the
// problem+json error type with the one table from domain error to status and
// code, event payloads and their encoder, and the converters from models. It
// holds the only types the OpenAPI generator sees.
package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/resonate/resonate-chat/models"
)

// Problem is an RFC 9457 problem document, the body of every 4xx and 5xx.
type Problem struct {
	Type   string `json:"type" validate:"required" example:"about:blank"`
	Title  string `json:"title" validate:"required" example:"Forbidden"`
	Status int    `json:"status" validate:"required" example:"403"`
	Detail string `json:"detail" validate:"required" example:"you are muted in this room until 2026-11-25T10:00:00Z"`
	// Code is the machine-readable error code of the contract.
	Code string `json:"code" validate:"required" example:"muted" enums:"unauthorized,not_participant,forbidden,banned,muted,chat_locked,rate_limited,not_found,conflict,invalid,content_empty,content_too_long,content_invalid,too_large,unsupported_media_type,method_not_allowed,unavailable,internal"`
	// Until is when the restriction ends, for banned (if temporary), muted,
	// chat_locked and rate_limited.
	Until *string `json:"until,omitempty" example:"2026-11-25T10:00:00.000000Z" format:"date-time"`
}

// JSON is the problem's body. Details are written as they are, without
// encoding/json's HTML escaping: a detail that says "Bearer <token>" reaches
// the reader as that, not as "Bearer \u003ctoken\u003e". A problem is
// served as application/problem+json, never inlined in HTML.
func (p Problem) JSON() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(p) // strings and ints only: cannot fail
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// StatusClientClosed is the status recorded (in the log line and the
// metrics, never sent) for a request whose client went away first: 499, the
// convention nginx set.
const StatusClientClosed = 499

// ProblemContentType is the media type of problem documents.
const ProblemContentType = "application/problem+json"

// unavailableRetry is the Retry-After sent with 503s: long enough for a
// database failover or an identity provider's hiccup, short enough for a chat.
const unavailableRetry = 2 * time.Second

// problems is the one table from domain error to status and code.
var problems = []struct {
	err    error
	status int
	code   string
}{
	// First: whatever else went wrong, nobody is there to hear it.
	{models.ErrClientGone, StatusClientClosed, "client_gone"},
	{models.ErrUnauthorized, http.StatusUnauthorized, "unauthorized"},
	{models.ErrNotParticipant, http.StatusForbidden, "not_participant"},
	{models.ErrBanned, http.StatusForbidden, "banned"},
	{models.ErrMuted, http.StatusForbidden, "muted"},
	{models.ErrChatLocked, http.StatusForbidden, "chat_locked"},
	{models.ErrForbidden, http.StatusForbidden, "forbidden"},
	{models.ErrRateLimited, http.StatusTooManyRequests, "rate_limited"},
	{models.ErrNotFound, http.StatusNotFound, "not_found"},
	{models.ErrConflict, http.StatusConflict, "conflict"},
	{models.ErrContentEmpty, http.StatusBadRequest, "content_empty"},
	{models.ErrContentTooLong, http.StatusBadRequest, "content_too_long"},
	{models.ErrContentInvalid, http.StatusBadRequest, "content_invalid"},
	{models.ErrInvalid, http.StatusBadRequest, "invalid"},
	{models.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large"},
	{models.ErrUnsupportedMedia, http.StatusUnsupportedMediaType, "unsupported_media_type"},
	{models.ErrMethodNotAllowed, http.StatusMethodNotAllowed, "method_not_allowed"},
	{models.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
}

// ProblemFor maps err to its problem document and Retry-After in seconds (0
// for none). known is false for an error outside the table: the caller logs it
// and the client gets a generic 500.
func ProblemFor(err error) (p Problem, retryAfter int64, known bool) {
	for _, e := range problems {
		if !errors.Is(err, e.err) {
			continue
		}
		p = Problem{Type: "about:blank", Title: title(e.status), Status: e.status, Code: e.code, Detail: detail(err, e.err)}
		var r *models.Restriction
		if errors.As(err, &r) {
			p.Until = Time(r.Until)
			retryAfter = models.CeilSeconds(r.RetryAfter)
		}
		if e.err == models.ErrUnavailable {
			retryAfter = models.CeilSeconds(unavailableRetry)
			p.Detail = models.ErrUnavailable.Error()
		}
		return p, retryAfter, true
	}
	return Problem{Type: "about:blank", Title: http.StatusText(500), Status: 500, Code: "internal",
		Detail: "an internal error occurred; it has been logged"}, 0, false
}

func title(status int) string {
	if status == StatusClientClosed {
		return "Client Closed Request"
	}
	return http.StatusText(status)
}

// Code returns the contract's error code for err, or nil for nil.
func Code(err error) *string {
	if err == nil {
		return nil
	}
	p, _, _ := ProblemFor(err)
	return &p.Code
}

func detail(err, sentinel error) string {
	if err == sentinel {
		return sentinel.Error()
	}
	return err.Error()
}
