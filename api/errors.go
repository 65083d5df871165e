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

// Errors of the HTTP layer, which no use case returns. They are domain errors
// in form, so that they answer like the others.
var (
	ErrTooLarge         = &models.Error{Code: "too_large", Detail: "request body is too large"}
	ErrUnsupportedMedia = &models.Error{Code: "unsupported_media_type", Detail: "request body must be application/json"}
	ErrMethodNotAllowed = &models.Error{Code: "method_not_allowed", Detail: "method not allowed"}
	// ErrClientGone is a request whose client went away before its answer:
	// nobody reads what would be written, and it is nobody's failure. It
	// comes first in the error it marks, so it is the one answered with.
	ErrClientGone = &models.Error{Code: "client_gone", Detail: "client gone"}
)

// statuses is the one table from error code to status.
var statuses = map[string]int{
	ErrClientGone.Code:            StatusClientClosed,
	models.ErrUnauthorized.Code:   http.StatusUnauthorized,
	models.ErrNotParticipant.Code: http.StatusForbidden,
	models.ErrBanned.Code:         http.StatusForbidden,
	models.ErrMuted.Code:          http.StatusForbidden,
	models.ErrChatLocked.Code:     http.StatusForbidden,
	models.ErrForbidden.Code:      http.StatusForbidden,
	models.ErrRateLimited.Code:    http.StatusTooManyRequests,
	models.ErrNotFound.Code:       http.StatusNotFound,
	models.ErrConflict.Code:       http.StatusConflict,
	models.ErrContentEmpty.Code:   http.StatusBadRequest,
	models.ErrContentTooLong.Code: http.StatusBadRequest,
	models.ErrContentInvalid.Code: http.StatusBadRequest,
	models.ErrInvalid.Code:        http.StatusBadRequest,
	ErrTooLarge.Code:              http.StatusRequestEntityTooLarge,
	ErrUnsupportedMedia.Code:      http.StatusUnsupportedMediaType,
	ErrMethodNotAllowed.Code:      http.StatusMethodNotAllowed,
	models.ErrUnavailable.Code:    http.StatusServiceUnavailable,
}

// ProblemFor maps err to its problem document and Retry-After in seconds (0
// for none): the first models.Error in err's chain says the code, and err's
// text is the detail. known is false for an error with no code in the table:
// the caller logs it and the client gets a generic 500.
func ProblemFor(err error) (p Problem, retryAfter int64, known bool) {
	var e *models.Error
	if errors.As(err, &e) {
		if status, ok := statuses[e.Code]; ok {
			p = Problem{Type: "about:blank", Title: title(status), Status: status, Code: e.Code, Detail: err.Error(),
				Until: Time(e.Until)}
			retryAfter = models.CeilSeconds(e.RetryAfter)
			if e.Code == models.ErrUnavailable.Code {
				retryAfter = models.CeilSeconds(unavailableRetry)
				p.Detail = models.ErrUnavailable.Error()
			}
			return p, retryAfter, true
		}
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
