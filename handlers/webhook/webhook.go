// Package webhook delivers the outbox's notifications (see models/outbox.go)
// to the configured receiver: a Sender on each node claims due rows, signs
// each body with HMAC-SHA256, POSTs it, deletes it once the receiver
// answered 2xx, and otherwise retries it later with growing delays, for up to
// a day. It knows the outbox only through the Store interface, and nothing of
// what a notification means.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/resonate/resonate-chat/models"
)

// SignatureHeader carries the body's signature: "sha256=" and the hex of
// HMAC-SHA256(secret, body).
const SignatureHeader = "X-Chat-Signature"

// Defaults, with the reason for each.
const (
	// DefaultTimeout is the contract's: a receiver that has not answered
	// within 10 s has failed this attempt.
	DefaultTimeout = 10 * time.Second
	// DefaultRetryBase is the first retry's delay: a receiver restarting
	// is back within seconds, and doubling from here reaches minutes soon.
	DefaultRetryBase = time.Second
	// DefaultRetryMax caps the delay, so a receiver back after hours waits
	// at most ten minutes more for what it missed.
	DefaultRetryMax = 10 * time.Minute
	// DefaultGiveUp is the contract's: a notification not delivered within
	// a day is dropped (logged and counted), as a push that late is noise.
	DefaultGiveUp = 24 * time.Hour
	// DefaultPoll is how often a sender looks for rows no commit of its
	// own told it of: another node's, or its own earlier ones at restart.
	DefaultPoll = time.Second
	// DefaultWorkers is how many POSTs a node has in flight: enough that a
	// receiver taking the whole timeout does not stall the rest for long,
	// few enough not to flood it.
	DefaultWorkers = 4
	// leaseMargin is how much longer than the timeout a claim lasts: a
	// claimed row is somebody's until the POST and the write after it are
	// surely over, and no other node sends it meanwhile.
	leaseMargin = 20 * time.Second
	// closeGrace is how long Close lets POSTs in flight finish before it
	// cuts them off (their rows are then sent again later).
	closeGrace = 2 * time.Second
	// storeTimeout bounds the sender's reads and writes of the outbox.
	storeTimeout = 10 * time.Second
)

// Delivery outcomes, for metrics.
const (
	OutcomeDelivered = "delivered" // the receiver answered 2xx
	OutcomeFailed    = "failed"    // no answer, or not 2xx: retried later
	OutcomeGaveUp    = "gave_up"   // failed past the give-up age: dropped
)

// Store is the outbox as the sender uses it; *models.Store implements it.
type Store interface {
	ClaimNotifications(ctx context.Context, limit int, lease time.Duration) ([]models.ClaimedNotification, error)
	NotificationDelivered(ctx context.Context, n *models.ClaimedNotification) error
	NotificationFailed(ctx context.Context, n *models.ClaimedNotification, due time.Time) error
	NotificationAbandoned(ctx context.Context, n *models.ClaimedNotification) error
	Outbox(ctx context.Context) (models.OutboxState, error)
}

var _ Store = (*models.Store)(nil)

// Observer hears the sender's deliveries and the outbox's state, for metrics.
type Observer interface {
	WebhookDelivery(outcome string)
	WebhookOutbox(depth int64, oldestAge time.Duration)
}

// Options configure a Sender; zero durations take the defaults.
type Options struct {
	URL    string
	Secret []byte
	// Timeout bounds one POST.
	Timeout time.Duration
	// RetryBase and RetryMax shape the delays between attempts: RetryBase
	// doubled per attempt, capped at RetryMax, half of it random.
	RetryBase, RetryMax time.Duration
	// GiveUp is how old a notification may grow before a failed attempt
	// drops it.
	GiveUp time.Duration
	// Poll is how often the outbox is looked at when nothing wakes the
	// sender.
	Poll    time.Duration
	Workers int
	Log     *slog.Logger
	// Observer hears deliveries; nil for none.
	Observer Observer
}

// Sender delivers the outbox. Kick wakes it after a commit that added rows;
// it also polls. Close stops it.
type Sender struct {
	store    Store
	o        Options
	client   *http.Client
	wake     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	ctx      context.Context // cancelled by Close after closeGrace: ends POSTs in flight
	cancel   context.CancelFunc
	mu       sync.Mutex
	inflight int
	workers  sync.WaitGroup
	once     sync.Once
}

// New starts a sender over store.
func New(store Store, o Options) *Sender {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Timeout, DefaultTimeout)
	def(&o.RetryBase, DefaultRetryBase)
	def(&o.RetryMax, DefaultRetryMax)
	def(&o.GiveUp, DefaultGiveUp)
	def(&o.Poll, DefaultPoll)
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sender{store: store, o: o, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		ctx: ctx, cancel: cancel,
		client: &http.Client{Timeout: o.Timeout,
			// A redirect is not an answer: a POST followed to
			// another address would lose its body or its method.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	go s.run()
	return s
}

// Kick wakes the sender; it never blocks.
func (s *Sender) Kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close stops claiming, lets the POSTs in flight finish for closeGrace, cuts
// off the rest (their rows are due again at once, for this node's next start
// or another node) and returns when every worker has.
func (s *Sender) Close() {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		finished := make(chan struct{})
		go func() { s.workers.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-time.After(closeGrace):
			s.cancel()
			<-finished
		}
		s.cancel()
	})
}

func (s *Sender) run() {
	defer close(s.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-timer.C:
		}
		next := s.round()
		timer.Stop()
		timer.Reset(next)
	}
}

// round looks at the outbox, claims what is due for the free workers and
// hands it to them; it returns when to look again.
func (s *Sender) round() time.Duration {
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	st, err := s.store.Outbox(ctx)
	if err != nil {
		s.o.Log.Warn("webhook: read outbox", "err", err)
		return s.o.Poll
	}
	var age time.Duration
	if st.Depth > 0 {
		age = max(time.Since(st.Oldest), 0)
	}
	s.o.Observer.WebhookOutbox(st.Depth, age)
	if st.Depth == 0 {
		return s.o.Poll
	}
	if wait := time.Until(st.NextDue); wait > 0 {
		return min(wait, s.o.Poll)
	}
	s.mu.Lock()
	free := s.o.Workers - s.inflight
	s.mu.Unlock()
	if free == 0 {
		return s.o.Poll // a worker that finishes kicks
	}
	rows, err := s.store.ClaimNotifications(ctx, free, s.o.Timeout+leaseMargin)
	if err != nil {
		s.o.Log.Warn("webhook: claim notifications", "err", err)
		return s.o.Poll
	}
	s.mu.Lock()
	s.inflight += len(rows)
	s.mu.Unlock()
	for i := range rows {
		s.workers.Go(func() { s.deliver(&rows[i]) })
	}
	return s.o.Poll
}

// deliver posts n and records the outcome.
func (s *Sender) deliver(n *models.ClaimedNotification) {
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
		s.Kick()
	}()
	err := s.post(n.Body)
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	switch {
	case err == nil:
		s.o.Observer.WebhookDelivery(OutcomeDelivered)
		err = s.store.NotificationDelivered(ctx, n)
	case s.ctx.Err() != nil:
		// Cut off by Close: due again at once, for whoever is next.
		err = s.store.NotificationFailed(ctx, n, time.Now())
	case time.Since(n.Created()) >= s.o.GiveUp:
		s.o.Observer.WebhookDelivery(OutcomeGaveUp)
		s.o.Log.Error("webhook: gave up on a notification", "id", n.ID, "attempts", n.Attempts+1,
			"age", time.Since(n.Created()).Round(time.Second).String(), "err", err)
		err = s.store.NotificationAbandoned(ctx, n)
	default:
		s.o.Observer.WebhookDelivery(OutcomeFailed)
		delay := s.backoff(n.Attempts)
		s.o.Log.Warn("webhook: delivery failed; will retry", "id", n.ID, "attempt", n.Attempts+1,
			"retry_in", delay.Round(time.Millisecond).String(), "err", err)
		err = s.store.NotificationFailed(ctx, n, time.Now().Add(delay))
	}
	if err != nil {
		// The claim runs out and the row is sent again: at least once.
		s.o.Log.Warn("webhook: record delivery", "id", n.ID, "err", err)
	}
}

// backoff is the delay after attempt+1 failed attempts: RetryBase doubled
// per attempt, capped at RetryMax, with its upper half random so that the
// retries of many rows that failed together spread out.
func (s *Sender) backoff(attempt int) time.Duration {
	d := s.o.RetryMax
	if attempt < 30 {
		d = min(s.o.RetryBase<<attempt, s.o.RetryMax)
	}
	return d/2 + rand.N(d/2+1)
}

// post sends body to the receiver, signed; nil when it answered 2xx.
func (s *Sender) post(body string) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.URL, bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "resonate-chat")
	req.Header.Set(SignatureHeader, Sign(s.o.Secret, []byte(body)))
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}

// Sign is the signature header's value for body: "sha256=" and the hex of
// HMAC-SHA256(secret, body).
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature is body's under secret, in constant time:
// what a receiver written in Go does.
func Verify(secret, body []byte, signature string) bool {
	return hmac.Equal([]byte(signature), []byte(Sign(secret, body)))
}

type nopObserver struct{}

func (nopObserver) WebhookDelivery(string)             {}
func (nopObserver) WebhookOutbox(int64, time.Duration) {}
