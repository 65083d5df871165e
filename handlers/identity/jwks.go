package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/resonate/resonate-chat/models"
)

// Defaults of JWKSOptions.
const (
	// DefaultJWKSRefresh is how often the key set is fetched in the
	// background: providers publish a new key well before signing with it,
	// and an unknown kid triggers an early fetch anyway.
	DefaultJWKSRefresh = 15 * time.Minute
	// DefaultJWKSMinRefresh bounds fetches triggered by unknown kids: at most
	// one every 5 s per node, however many forged kids arrive, and a token
	// signed with a key the provider has just published waits no longer than
	// that for the fetch that finds it.
	DefaultJWKSMinRefresh = 5 * time.Second
	// maxKidWait is the longest a token with an unknown kid waits for the
	// next fetch it may trigger; a longer wait (a MinRefresh above it) is
	// not made, and the token is refused at once.
	maxKidWait = 5 * time.Second
	// DefaultJWKSTimeout bounds one fetch of the key set.
	DefaultJWKSTimeout = 10 * time.Second
	// maxJWKSBody bounds the key set document: real ones are a few KiB.
	maxJWKSBody = 1 << 20
	// maxJWKSKeys bounds the keys kept from one document.
	maxJWKSKeys = 100
	// minRSABits refuses keys too weak to trust.
	minRSABits = 2048
)

// JWKSOptions configure a JWKS verifier.
type JWKSOptions struct {
	// URL is the provider's JWK Set (CHAT_JWKS_URL).
	URL string
	// Issuer, when set, must equal the token's iss (CHAT_JWT_ISSUER).
	Issuer string
	// Audience, when set, must be among the token's aud (CHAT_JWT_AUDIENCE).
	Audience string
	// Client fetches the key set; nil for one with DefaultJWKSTimeout.
	Client *http.Client
	// Refresh is the background refresh interval (DefaultJWKSRefresh).
	Refresh time.Duration
	// MinRefresh is the least time between the start of a fetch and that of
	// one an unknown kid triggers, and the longest wait between retries while
	// fetches fail (DefaultJWKSMinRefresh).
	MinRefresh time.Duration
	// Log receives the verifier's warnings; nil discards them.
	Log *slog.Logger
}

// JWKS verifies RS256 and ES256 tokens against an OpenID Connect provider's
// key set, picked by kid. The set is fetched by Run in the background and on
// demand when a token names an unknown kid: then the token waits for a fetch
// that begins after it was seen, started at once if the last one began
// MinRefresh ago, else when it did (if that is within maxKidWait). Every
// token waiting shares that one fetch. A failed fetch keeps the last good set.
type JWKS struct {
	opts   JWKSOptions
	parser *jwt.Parser

	mu       sync.Mutex // guards the fields below
	keys     map[string]jwkKey
	loaded   bool
	lastTry  time.Time
	lastErr  error
	inflight chan struct{} // non-nil while a fetch runs; closed when it ends
}

// jwkKey is a usable public key and the one algorithm it verifies.
type jwkKey struct {
	alg string
	key any
}

var errRefreshLimited = errors.New("the key set was fetched moments ago")

// NewJWKS returns a verifier for opts; call Run to load and refresh its keys.
func NewJWKS(opts JWKSOptions) *JWKS {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: DefaultJWKSTimeout}
	}
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultJWKSRefresh
	}
	if opts.MinRefresh <= 0 {
		opts.MinRefresh = DefaultJWKSMinRefresh
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	popts := []jwt.ParserOption{jwt.WithValidMethods([]string{"RS256", "ES256"}),
		jwt.WithExpirationRequired(), jwt.WithLeeway(Leeway)}
	if opts.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(opts.Issuer))
	}
	if opts.Audience != "" {
		popts = append(popts, jwt.WithAudience(opts.Audience))
	}
	return &JWKS{opts: opts, parser: jwt.NewParser(popts...)}
}

// Run loads the key set, retrying with backoff until it has one, then
// refreshes it every Refresh until ctx ends.
func (j *JWKS) Run(ctx context.Context) {
	first := min(time.Second, j.opts.MinRefresh)
	backoff := first
	for {
		wait := j.opts.Refresh
		if err := j.refresh(ctx); err != nil {
			j.opts.Log.Warn("could not fetch the JWK Set", "url", j.opts.URL, "err", err, "retry_in", backoff)
			wait, backoff = backoff, min(backoff*2, j.opts.MinRefresh)
		} else {
			backoff = first
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Ready reports an error until a key set has been loaded: /readyz uses it.
func (j *JWKS) Ready(context.Context) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.loaded {
		return models.WithDetail(models.ErrUnavailable, "the identity provider's keys are not loaded yet")
	}
	return nil
}

// Verify implements Verifier.
func (j *JWKS) Verify(ctx context.Context, token string, cost *Cost) (*Identity, error) {
	var c Claims
	if t, _, err := jwt.NewParser().ParseUnverified(token, &c); err == nil && t.Method != nil &&
		t.Method.Alg() != "RS256" && t.Method.Alg() != "ES256" {
		return nil, notMine("signing method %s is not RS256 or ES256", t.Method.Alg())
	}
	c = Claims{}
	var keyErr error // the key lookup's own words, not the parser's wrapping of them
	keyfunc := func(t *jwt.Token) (any, error) {
		key, err := j.key(ctx, t, cost)
		keyErr = err
		return key, err
	}
	if _, err := j.parser.ParseWithClaims(token, &c, keyfunc); err != nil {
		switch {
		case ctx.Err() != nil: // the caller went away while the key set was fetched
			return nil, ctx.Err()
		case errors.Is(keyErr, models.ErrUnavailable), errors.Is(keyErr, ErrCostRefused):
			return nil, keyErr
		case keyErr != nil:
			return nil, models.WithDetail(models.ErrUnauthorized, "invalid token: %v", keyErr)
		}
		return nil, tokenErr(err)
	}
	return c.Identity()
}

// key finds the key for a token whose alg the parser already accepted,
// fetching the key set when the kid is unknown (see JWKS), which is costly.
func (j *JWKS) key(ctx context.Context, t *jwt.Token, cost *Cost) (any, error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	if key, err := j.lookup(kid, alg); key != nil || err != nil {
		return key, err
	}
	if !cost.take() {
		return nil, ErrCostRefused
	}
	fetchErr := j.fetchSince(ctx, time.Now())
	if key, err := j.lookup(kid, alg); key != nil || err != nil {
		return key, err
	}
	j.mu.Lock()
	down := !j.loaded || j.lastErr != nil
	j.mu.Unlock()
	if down {
		return nil, fmt.Errorf("%w: %v", models.ErrUnavailable, fetchErr)
	}
	if kid == "" {
		return nil, fmt.Errorf("no %s key verifies it", alg)
	}
	return nil, fmt.Errorf("the identity provider publishes no key with kid %q", kid)
}

// lookup returns the key for kid and alg, or with no kid every key for alg;
// nil and no error when there is none (yet).
func (j *JWKS) lookup(kid, alg string) (any, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if kid == "" {
		var set jwt.VerificationKeySet
		for _, k := range j.keys {
			if k.alg == alg {
				set.Keys = append(set.Keys, k.key)
			}
		}
		if len(set.Keys) == 0 {
			return nil, nil
		}
		return set, nil
	}
	k, ok := j.keys[kid]
	switch {
	case !ok:
		return nil, nil
	case k.alg != alg:
		return nil, fmt.Errorf("key %q is for %s, not %s", kid, k.alg, alg)
	}
	return k.key, nil
}

// refresh fetches the key set, or waits for the fetch already running.
func (j *JWKS) refresh(ctx context.Context) error {
	j.mu.Lock()
	if ch := j.inflight; ch != nil {
		j.mu.Unlock()
		return j.await(ctx, ch)
	}
	return j.fetchLocked(ctx)
}

// fetchSince makes sure the key set has been fetched by a fetch that began
// at or after t (when a token's kid was found missing): it waits for a
// fetch running now and, unless that one began after t, starts another as
// soon as MinRefresh has passed since the last began. It gives up with
// errRefreshLimited rather than wait longer than maxKidWait, with the last
// fetch's error when that one failed (waiting on a provider that is down
// helps no one), and with ctx's
// error when the caller goes away; the fetch itself is not cancelled with
// it, since others may be waiting for it.
func (j *JWKS) fetchSince(ctx context.Context, t time.Time) error {
	for {
		j.mu.Lock()
		if ch := j.inflight; ch != nil {
			began := j.lastTry
			j.mu.Unlock()
			if err := j.await(ctx, ch); !began.Before(t) || ctx.Err() != nil {
				return err
			}
			continue
		}
		if !j.lastTry.Before(t) { // one began after t, and has ended
			err := j.lastErr
			j.mu.Unlock()
			return err
		}
		wait := j.opts.MinRefresh - time.Since(j.lastTry)
		if wait <= 0 {
			return j.fetchLocked(context.WithoutCancel(ctx))
		}
		if err := j.lastErr; err != nil { // the provider failed just now: say so rather than wait
			j.mu.Unlock()
			return err
		}
		j.mu.Unlock()
		if wait > maxKidWait {
			return errRefreshLimited
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}

// await waits for the fetch that closes ch and returns its error.
func (j *JWKS) await(ctx context.Context, ch chan struct{}) error {
	select {
	case <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastErr
}

// fetchLocked fetches the key set as the one fetch running; the caller holds
// mu, which it releases.
func (j *JWKS) fetchLocked(ctx context.Context) error {
	ch := make(chan struct{})
	j.inflight, j.lastTry = ch, time.Now()
	j.mu.Unlock()

	keys, err := j.fetch(ctx)

	j.mu.Lock()
	defer j.mu.Unlock()
	if err == nil {
		j.keys, j.loaded = keys, true
	}
	j.lastErr, j.inflight = err, nil
	close(ch)
	return err
}

// jwk is the part of RFC 7517's JSON Web Key the verifier reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// fetch downloads and parses the key set. Keys it cannot use are skipped; a
// set with no usable key is an error, so a broken document never empties
// the cache.
func (j *JWKS) fetch(ctx context.Context) (map[string]jwkKey, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultJWKSTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.opts.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWK Set answered %s", resp.Status)
	}
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBody)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("JWK Set is not valid JSON: %w", err)
	}
	keys := map[string]jwkKey{}
	for _, k := range doc.Keys {
		if len(keys) == maxJWKSKeys {
			break
		}
		if key, err := k.parse(); err == nil {
			keys[k.Kid] = key
		} else {
			j.opts.Log.Debug("skipping a JWK", "kid", k.Kid, "err", err)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("JWK Set has no usable RS256 or ES256 signing key")
	}
	return keys, nil
}

// parse turns a JWK into an RS256 or ES256 verification key.
func (k jwk) parse() (jwkKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return jwkKey{}, fmt.Errorf("use is %q", k.Use)
	}
	switch {
	case k.Kty == "RSA" && (k.Alg == "" || k.Alg == "RS256"):
		n, err1 := b64Int(k.N)
		e, err2 := b64Int(k.E)
		if err1 != nil || err2 != nil || n.BitLen() < minRSABits || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return jwkKey{}, errors.New("bad or weak RSA key")
		}
		return jwkKey{alg: "RS256", key: &rsa.PublicKey{N: n, E: int(e.Int64())}}, nil
	case k.Kty == "EC" && k.Crv == "P-256" && (k.Alg == "" || k.Alg == "ES256"):
		x, err1 := base64.RawURLEncoding.DecodeString(k.X)
		y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return jwkKey{}, errors.New("bad P-256 coordinates")
		}
		// ParseUncompressedPublicKey checks that the point is on the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return jwkKey{}, err
		}
		return jwkKey{alg: "ES256", key: pub}, nil
	}
	return jwkKey{}, fmt.Errorf("unsupported key type %q/%q alg %q", k.Kty, k.Crv, k.Alg)
}

func b64Int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("bad base64url integer")
	}
	return new(big.Int).SetBytes(b), nil
}
