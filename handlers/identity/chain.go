package identity

import (
	"context"
	"errors"

	"github.com/resonate/resonate-chat/models"
)

// Readier is a verifier that is not ready to serve until it has loaded
// something (a JWKS verifier's keys): /readyz asks it.
type Readier interface {
	Ready(ctx context.Context) error
}

// Chain tries verifiers in order; the first that accepts a token wins. When
// none does, and one of them could not reach its identity provider, the
// answer is that provider's ErrUnavailable (it might have accepted): an
// outage is a 503, never a pass and never a misleading 401.
type Chain []Verifier

// NewChain returns the verifiers as one; a single verifier is returned as is.
func NewChain(vs ...Verifier) Verifier {
	if len(vs) == 1 {
		return vs[0]
	}
	return Chain(vs)
}

var (
	_ Verifier = Chain(nil)
	_ Verifier = (*HS256)(nil)
	_ Verifier = (*JWKS)(nil)
	_ Verifier = (*Appwrite)(nil)
	_ Readier  = Chain(nil)
	_ Readier  = (*JWKS)(nil)
)

// Verify implements Verifier. A 401's detail comes from the last verifier
// that recognised the token as its kind, so an expired OIDC token says
// "expired", not "signing method RS256 is invalid".
func (c Chain) Verify(ctx context.Context, token string, cost *Cost) (*Identity, error) {
	var refusal, unavailable error
	for _, v := range c {
		id, err := v.Verify(ctx, token, cost)
		var f foreign
		switch {
		case err == nil:
			return id, nil
		case errors.Is(err, models.ErrUnavailable):
			unavailable = cmpOr(unavailable, err)
		case !errors.Is(err, models.ErrUnauthorized):
			return nil, err
		case !errors.As(err, &f):
			refusal = err
		default:
			refusal = cmpOr(refusal, err)
		}
	}
	if unavailable != nil {
		return nil, unavailable
	}
	if refusal == nil {
		refusal = models.WithDetail(models.ErrUnauthorized, "no token verifier is configured")
	}
	return nil, refusal
}

// foreign marks a refusal of a token that is not of the verifier's kind
// (another algorithm, another issuer's format).
type foreign struct{ error }

func (f foreign) Unwrap() error { return f.error }

// notMine is the refusal of a token of another kind.
func notMine(format string, args ...any) error {
	return foreign{models.WithDetail(models.ErrUnauthorized, format, args...)}
}

// Ready implements Readier: every member that can be unready must be ready.
func (c Chain) Ready(ctx context.Context) error {
	for _, v := range c {
		if err := Ready(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

// Ready asks v whether it is ready, if it can tell.
func Ready(ctx context.Context, v Verifier) error {
	if r, ok := v.(Readier); ok {
		return r.Ready(ctx)
	}
	return nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
