package identity

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/models"
)

// Defaults and bounds of the Appwrite verifier.
const (
	// DefaultAppwriteTimeout bounds one GET /account: Appwrite answers in
	// milliseconds, and a caller should hear 503 before their client gives up.
	DefaultAppwriteTimeout = 5 * time.Second
	// maxAppwriteCacheTTL caps how long an answer is trusted: Appwrite's JWTs
	// live 15 minutes, and a deleted session should not outlive that.
	maxAppwriteCacheTTL = 15 * time.Minute
	// maxAppwriteCache bounds the cache: one entry per live token, so this
	// many users active within 15 minutes on one node.
	maxAppwriteCache = 50_000
	// maxAppwriteBody bounds the account document read.
	maxAppwriteBody = 64 << 10
)

// AppwriteOptions configure the Appwrite verifier.
type AppwriteOptions struct {
	// Endpoint is the API root, like https://cloud.appwrite.io/v1
	// (CHAT_APPWRITE_ENDPOINT).
	Endpoint string
	// Project is the project id (CHAT_APPWRITE_PROJECT).
	Project string
	// Client makes the calls; nil for one with Timeout.
	Client *http.Client
	// Timeout bounds one call (DefaultAppwriteTimeout).
	Timeout time.Duration
	// Log receives the verifier's warnings; nil discards them.
	Log *slog.Logger
}

// Appwrite verifies the JWTs the Resonate app gets from account.createJWT():
// it asks Appwrite's GET /account who the token belongs to, once per token,
// and keeps the answer until the token expires (15 minutes at most). The
// account's $id is the user id, its name the display name, and the label
// "admin" makes a platform admin (labels are set only with a server key).
type Appwrite struct {
	opts AppwriteOptions
	url  string
	now  func() time.Time

	mu    sync.Mutex // guards cache
	cache map[[sha256.Size]byte]appwriteEntry
}

type appwriteEntry struct {
	id     Identity
	expiry time.Time // when the entry stops being used
}

// NewAppwrite returns a verifier for opts.
func NewAppwrite(opts AppwriteOptions) *Appwrite {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultAppwriteTimeout
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: opts.Timeout}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Appwrite{opts: opts, url: strings.TrimRight(opts.Endpoint, "/") + "/account", now: time.Now,
		cache: map[[sha256.Size]byte]appwriteEntry{}}
}

// appwriteClaims are what the verifier reads from a token before asking
// Appwrite: only to skip tokens that are not Appwrite's and to bound the
// cache. They are never trusted for identity.
type appwriteClaims struct {
	UserID string `json:"userId"`
	jwt.RegisteredClaims
}

// Verify implements Verifier.
func (a *Appwrite) Verify(ctx context.Context, token string, cost *Cost) (*Identity, error) {
	var c appwriteClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil || c.UserID == "" {
		// Not an Appwrite JWT: never forward someone else's token to Appwrite.
		return nil, notMine("not an Appwrite JWT")
	}
	now := a.now()
	if c.ExpiresAt == nil {
		return nil, models.WithDetail(models.ErrUnauthorized, "token has no exp")
	}
	exp := c.ExpiresAt.Time
	if !exp.Add(Leeway).After(now) {
		return nil, models.WithDetail(models.ErrUnauthorized, "token is expired")
	}
	key := sha256.Sum256([]byte(token))
	if id, ok := a.cached(key, now); ok {
		return id, nil
	}
	if !cost.take() {
		return nil, ErrCostRefused
	}
	id, err := a.account(ctx, token)
	if err != nil {
		return nil, err
	}
	id.Expires = exp
	expiry := now.Add(maxAppwriteCacheTTL)
	if exp.Before(expiry) {
		expiry = exp
	}
	a.store(key, *id, expiry, now)
	return id, nil
}

func (a *Appwrite) cached(key [sha256.Size]byte, now time.Time) (*Identity, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.cache[key]
	if !ok || !now.Before(e.expiry) {
		return nil, false
	}
	id := e.id
	return &id, true
}

// store keeps an answer, first dropping expired entries when the cache is
// full, and an arbitrary one when that is not enough.
func (a *Appwrite) store(key [sha256.Size]byte, id Identity, expiry, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= maxAppwriteCache {
		for k, e := range a.cache {
			if !now.Before(e.expiry) {
				delete(a.cache, k)
			}
		}
		for k := range a.cache {
			if len(a.cache) < maxAppwriteCache {
				break
			}
			delete(a.cache, k)
		}
	}
	a.cache[key] = appwriteEntry{id: id, expiry: expiry}
}

// appwriteAccount is the part of Appwrite's User model the chat uses.
type appwriteAccount struct {
	ID     string   `json:"$id"`
	Name   string   `json:"name"`
	Status *bool    `json:"status"`
	Labels []string `json:"labels"`
}

// account asks Appwrite whose token this is. A 401 means the token is not
// good (user_jwt_invalid, user_blocked…); anything else that is not a 200
// means Appwrite cannot answer, or is misconfigured: a 503, never a pass.
func (a *Appwrite) account(caller context.Context, token string) (*Identity, error) {
	ctx, cancel := context.WithTimeout(caller, a.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url, nil)
	if err != nil {
		return nil, a.unavailable(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Appwrite-Project", a.opts.Project)
	req.Header.Set("X-Appwrite-JWT", token)
	resp, err := a.opts.Client.Do(req)
	if err != nil && caller.Err() != nil {
		return nil, caller.Err() // the caller went away: Appwrite is not to blame
	}
	if err != nil {
		return nil, a.unavailable(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAppwriteBody))
	if err != nil {
		return nil, a.unavailable(err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		var e struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(body, &e)
		return nil, models.WithDetail(models.ErrUnauthorized, "Appwrite refused the token (%s)", orDefault(e.Type, resp.Status))
	case resp.StatusCode != http.StatusOK:
		return nil, a.unavailable(fmt.Errorf("GET /account answered %s", resp.Status))
	}
	var acc appwriteAccount
	if err := json.Unmarshal(body, &acc); err != nil || models.ValidUserID(acc.ID) != nil {
		return nil, a.unavailable(errors.New("GET /account answered without a valid $id"))
	}
	if acc.Status != nil && !*acc.Status {
		return nil, models.WithDetail(models.ErrUnauthorized, "the Appwrite account is blocked")
	}
	admin := false
	for _, l := range acc.Labels {
		admin = admin || l == "admin"
	}
	return &Identity{Actor: models.Actor{UserID: acc.ID, Name: acc.Name, Admin: admin}}, nil
}

// unavailable logs why Appwrite could not answer and returns the 503 error.
func (a *Appwrite) unavailable(err error) error {
	a.opts.Log.Warn("Appwrite could not verify a token", "url", a.url, "err", err)
	return fmt.Errorf("%w: Appwrite: %v", models.ErrUnavailable, err)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
