package stream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/resonate/resonate-chat/models"
)

func TestGate(t *testing.T) {
	t.Parallel()
	g := newGate(Limits{PerUser: 2, PerClient: 3, Total: 4})
	enter := func(user, ip string) (func(), error) { return g.enter(user, ip) }
	l1, err1 := enter("a", "ip1")
	_, err2 := enter("a", "ip1")
	_, err3 := enter("a", "ip2")
	if err1 != nil || err2 != nil || !errors.Is(err3, models.ErrRateLimited) {
		t.Fatalf("per user: %v %v %v", err1, err2, err3)
	}
	var r *models.Error
	if !errors.As(err3, &r) || r.RetryAfter != limitRetry {
		t.Fatalf("refusal %v: want a Restriction with Retry-After %s", err3, limitRetry)
	}
	_, err4 := enter("b", "ip1")
	_, err5 := enter("c", "ip1")
	if err4 != nil || !errors.Is(err5, models.ErrRateLimited) {
		t.Fatalf("per address: %v %v", err4, err5)
	}
	_, err6 := enter("d", "ip3")
	_, err7 := enter("e", "ip4")
	if err6 != nil || !errors.Is(err7, models.ErrRateLimited) {
		t.Fatalf("total: %v %v", err6, err7)
	}
	l1()
	l1() // leaving twice gives back one slot
	if g.total != 3 || g.byUser["a"] != 1 || g.byIP["ip1"] != 2 {
		t.Fatalf("after leaving: total %d, a %d, ip1 %d; want 3, 1, 2", g.total, g.byUser["a"], g.byIP["ip1"])
	}
	if _, err := enter("e", "ip4"); err != nil {
		t.Fatalf("a freed slot: %v", err)
	}
	if leave, err := newGate(Limits{}).enter("x", "y"); err != nil || leave == nil {
		t.Fatal("a gate without limits refuses")
	}
}

// A stopped gate refuses new streams with 503 and lets wait return once the
// last open one has left, and not before.
func TestGateStopWaitsForOpenStreams(t *testing.T) {
	t.Parallel()
	g := newGate(Limits{})
	leave, err := g.enter("a", "ip1")
	if err != nil {
		t.Fatal(err)
	}
	g.stop()
	if _, err := g.enter("b", "ip2"); !errors.Is(err, models.ErrUnavailable) {
		t.Fatalf("enter after stop: got %v, want ErrUnavailable", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with a stream open: got %v, want the deadline", err)
	}
	leave()
	if err := g.wait(context.Background()); err != nil {
		t.Fatalf("wait after the last stream left: %v", err)
	}
}
