package webhook

import (
	"testing"
	"time"
)

// Sign is HMAC-SHA256 in hex behind "sha256=": RFC 4231's test case 2.
func TestSign(t *testing.T) {
	got := Sign([]byte("Jefe"), []byte("what do ya want for nothing?"))
	want := "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	if got != want {
		t.Errorf("Sign: got %s, want %s", got, want)
	}
	if !Verify([]byte("Jefe"), []byte("what do ya want for nothing?"), want) || Verify([]byte("Jefe"), []byte("what do ya want?"), want) {
		t.Error("Verify does not tell the body's signature from another's")
	}
}

// The delay doubles per attempt from RetryBase up to RetryMax, with its
// upper half random.
func TestBackoff(t *testing.T) {
	s := &Sender{o: Options{RetryBase: time.Second, RetryMax: 10 * time.Minute}}
	for attempt, want := range map[int]time.Duration{0: time.Second, 1: 2 * time.Second, 5: 32 * time.Second, 9: 512 * time.Second,
		10: 10 * time.Minute, 40: 10 * time.Minute, 1000: 10 * time.Minute} {
		for range 100 {
			if d := s.backoff(attempt); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %s, want %s–%s", attempt, d, want/2, want)
			}
		}
	}
}
