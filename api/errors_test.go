package api_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// TestProblemForSentinels walks the contract's error table: every domain
// error, bare, wrapped or with a detail, maps to its status and code.
func TestProblemForSentinels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{models.ErrUnauthorized, 401, "unauthorized"},
		{models.ErrNotParticipant, 403, "not_participant"},
		{models.ErrForbidden, 403, "forbidden"},
		{models.ErrBanned, 403, "banned"},
		{models.ErrMuted, 403, "muted"},
		{models.ErrChatLocked, 403, "chat_locked"},
		{models.ErrRateLimited, 429, "rate_limited"},
		{models.ErrNotFound, 404, "not_found"},
		{models.ErrConflict, 409, "conflict"},
		{models.ErrInvalid, 400, "invalid"},
		{models.ErrContentEmpty, 400, "content_empty"},
		{models.ErrContentTooLong, 400, "content_too_long"},
		{models.ErrContentInvalid, 400, "content_invalid"},
		{api.ErrTooLarge, 413, "too_large"},
		{api.ErrUnsupportedMedia, 415, "unsupported_media_type"},
		{api.ErrMethodNotAllowed, 405, "method_not_allowed"},
		{models.ErrUnavailable, 503, "unavailable"},
	}
	for _, tt := range tests {
		forms := map[string]error{
			"bare":    tt.err,
			"wrapped": fmt.Errorf("loading the room: %w", tt.err),
			"detail":  models.WithDetail(tt.err, "a detail for %s", tt.code),
		}
		for form, err := range forms {
			t.Run(tt.code+"/"+form, func(t *testing.T) {
				t.Parallel()
				p, retry, known := api.ProblemFor(err)
				if !known || p.Status != tt.status || p.Code != tt.code {
					t.Fatalf("ProblemFor(%v): got %d %q known=%v, want %d %q known=true", err, p.Status, p.Code, known, tt.status, tt.code)
				}
				if p.Type != "about:blank" || p.Title != http.StatusText(tt.status) {
					t.Errorf("ProblemFor(%v): got type %q title %q, want about:blank and %q", err, p.Type, p.Title, http.StatusText(tt.status))
				}
				if p.Until != nil {
					t.Errorf("ProblemFor(%v): got until %q, want none", err, *p.Until)
				}
				wantRetry := int64(0)
				if tt.code == "unavailable" {
					wantRetry = 2
				}
				if retry != wantRetry {
					t.Errorf("ProblemFor(%v): got Retry-After %d, want %d", err, retry, wantRetry)
				}
				switch {
				case tt.code == "unavailable":
					if p.Detail != models.ErrUnavailable.Error() {
						t.Errorf("ProblemFor(%v): got detail %q, want the generic %q", err, p.Detail, models.ErrUnavailable.Error())
					}
				case p.Detail != err.Error():
					t.Errorf("ProblemFor(%v): got detail %q, want %q", err, p.Detail, err.Error())
				}
				if got := api.Code(err); got == nil || *got != tt.code {
					t.Errorf("Code(%v): got %v, want %q", err, got, tt.code)
				}
			})
		}
	}
}

// TestProblemForRestriction: a refusal that ends gives until and Retry-After.
func TestProblemForRestriction(t *testing.T) {
	t.Parallel()
	until := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name      string
		err       error
		status    int
		code      string
		until     string
		retry     int64
		detailHas string
	}{
		{"muted", models.Restricted(models.ErrMuted, &until, 90*time.Second),
			403, "muted", "2026-11-25T09:00:00.123456Z", 90, "muted"},
		{"temporary ban", models.Restricted(models.ErrBanned, &until, 1500*time.Millisecond),
			403, "banned", "2026-11-25T09:00:00.123456Z", 2, "banned"},
		{"permanent ban", models.Restricted(models.ErrBanned, nil, 0),
			403, "banned", "", 0, "banned"},
		{"chat lock", models.Restricted(models.ErrChatLocked, &until, time.Second),
			403, "chat_locked", "2026-11-25T09:00:00.123456Z", 1, "locked"},
		{"slow mode", models.Restricted(models.WithDetail(models.ErrRateLimited, "slow mode: one message every 10 s"), &until, 9*time.Second+time.Millisecond),
			429, "rate_limited", "2026-11-25T09:00:00.123456Z", 10, "slow mode"},
		{"wrapped", fmt.Errorf("send: %w", models.Restricted(models.ErrMuted, &until, time.Minute)),
			403, "muted", "2026-11-25T09:00:00.123456Z", 60, "muted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, retry, known := api.ProblemFor(tt.err)
			if !known || p.Status != tt.status || p.Code != tt.code {
				t.Fatalf("ProblemFor: got %d %q known=%v, want %d %q", p.Status, p.Code, known, tt.status, tt.code)
			}
			gotUntil := ""
			if p.Until != nil {
				gotUntil = *p.Until
			}
			if gotUntil != tt.until {
				t.Errorf("until: got %q, want %q", gotUntil, tt.until)
			}
			if retry != tt.retry {
				t.Errorf("Retry-After: got %d, want %d", retry, tt.retry)
			}
			if !strings.Contains(p.Detail, tt.detailHas) {
				t.Errorf("detail: got %q, want it to mention %q", p.Detail, tt.detailHas)
			}
		})
	}
}

// TestProblemForUnknown: anything outside the table is a generic 500 that
// leaks nothing of the error.
func TestProblemForUnknown(t *testing.T) {
	t.Parallel()
	secret := errors.New(`pq: password authentication failed for user "chat" at 10.0.0.5`)
	for _, err := range []error{secret, fmt.Errorf("wrapped: %w", secret), errors.Join(secret, errors.New("more"))} {
		p, retry, known := api.ProblemFor(err)
		if known || p.Status != 500 || p.Code != "internal" || retry != 0 {
			t.Errorf("ProblemFor(%v): got %d %q retry %d known=%v, want 500 internal 0 false", err, p.Status, p.Code, retry, known)
		}
		if strings.Contains(p.Detail, "password") || strings.Contains(p.Detail, "10.0.0.5") || p.Detail == "" {
			t.Errorf("ProblemFor(%v): got detail %q, want a generic one", err, p.Detail)
		}
		if p.Type != "about:blank" || p.Title != "Internal Server Error" {
			t.Errorf("ProblemFor(%v): got type %q title %q, want about:blank, Internal Server Error", err, p.Type, p.Title)
		}
	}
	if got := api.Code(nil); got != nil {
		t.Errorf("Code(nil): got %q, want nil", *got)
	}
}

// TestProblemForUnavailableHidesCause: a database failure says only that a
// backing service is unavailable.
func TestProblemForUnavailableHidesCause(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("%w: dial tcp 10.0.0.5:5432: connection refused", models.ErrUnavailable)
	p, retry, _ := api.ProblemFor(err)
	if p.Status != 503 || retry != 2 || strings.Contains(p.Detail, "10.0.0.5") {
		t.Errorf("ProblemFor(%v): got %d, Retry-After %d, detail %q; want 503, 2, no cause", err, p.Status, retry, p.Detail)
	}
}

// TestProblemForClientGone: a request whose client went away is a 499,
// whatever else its error says, and not a failure of the server.
func TestProblemForClientGone(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		api.ErrClientGone,
		fmt.Errorf("%w: %w", api.ErrClientGone, models.ErrUnavailable),
		fmt.Errorf("%w: %w", api.ErrClientGone, errors.New("context canceled")),
	} {
		p, _, known := api.ProblemFor(err)
		if !known || p.Status != api.StatusClientClosed || p.Code != "client_gone" {
			t.Errorf("ProblemFor(%v): got %d %q known=%v, want 499 client_gone", err, p.Status, p.Code, known)
		}
	}
}
