package tests

// An OpenID Connect provider rotating its keys, as providers do: it publishes
// a new key and signs with it soon after. The server, with the options main
// gives it, accepts the new key on its first use, and a flood of unknown kids
// still costs it at most a fetch every few seconds.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/handlers/identity"
)

func TestVerifiersRotatedKeyAccepted(t *testing.T) {
	t.Parallel()
	k1, k2 := newECKey(t, "2026-01"), newECKey(t, "2026-02")
	provider := newIDP(t, k1)
	j := identity.NewJWKS(identity.JWKSOptions{URL: provider.URL, Issuer: "https://idp.test/realms/resonate", Audience: "resonate-chat"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); j.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	s := StartServer(t, Options{Verifiers: []identity.Verifier{j}})
	anon := s.as(t, "anon", "")
	waitFor(t, 5*time.Second, "/readyz", func() bool { return anon.Do("GET", "/readyz", nil).Status == http.StatusOK })
	alice := s.as(t, "alice", k1.token(t, "alice", "Alice", time.Hour))
	room := uniqueRoom(t)
	alice.CreateRoom(room)

	// The provider publishes k2 and signs with it at once.
	provider.publish(false, k1, k2)
	erin := s.as(t, "erin", k2.token(t, "erin", "Erin", time.Hour))
	first := time.Now()
	for {
		r := erin.Do("POST", "/api/v1/rooms/"+room+"/participants", nil)
		if r.Status == http.StatusCreated {
			break
		}
		p := r.Problem(t)
		if strings.Contains(p.Detail, "keyfunc") || strings.Contains(p.Detail, "unverifiable") {
			t.Errorf("401 detail %q: want it without the JWT library's words", p.Detail)
		}
		if time.Since(first) > 10*time.Second {
			t.Fatalf("a token signed with a newly published key: still %d %q 10 s after its first use", r.Status, p.Detail)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Unknown kids, many and all the time: refused in plain words, and the
	// provider is asked at most once every few seconds.
	before, start := provider.fetches.Load(), time.Now()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Since(start) < 6*time.Second; i++ {
				forged := newECKey(t, fmt.Sprintf("forged-%d-%d", w, i))
				r := s.as(t, "mallory", forged.token(t, "mallory", "", time.Hour)).Do("GET", "/api/v1/rooms/"+room, nil)
				if r.Status != http.StatusUnauthorized {
					t.Errorf("unknown kid: got %d, want 401", r.Status)
					return
				}
				if p := r.Problem(t); strings.Contains(p.Detail, "keyfunc") || !strings.Contains(p.Detail, "kid") {
					t.Errorf("unknown kid: detail %q, want it to name the kid in plain words", p.Detail)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if got, most := provider.fetches.Load()-before, int64(elapsed/(2*time.Second))+1; got > most {
		t.Fatalf("unknown kids for %s made %d fetches of the key set, want at most %d (one every 2 s or more)", elapsed, got, most)
	}
	erin.Must(http.StatusOK, "GET", "/api/v1/rooms/"+room, nil, nil)
}
