package models

import "time"

// Observer hears how long sends and store work took, for metrics. Its
// methods are called on hot paths and from many goroutines: they must be cheap
// and safe for concurrent use.
type Observer interface {
	// SendDone is one Send use case, from its call to its outcome.
	SendDone(d time.Duration, outcome string)
	// StoreDone is one write ("write", waiting for the SQLite writer
	// included) or read ("read") transaction of a use case.
	StoreDone(op string, d time.Duration)
	// GroupCommit is one transaction holding writes writes, from its BEGIN
	// to its COMMIT: a group commit of the SQLite writer, or a batch of
	// sends to one room on PostgreSQL.
	GroupCommit(d time.Duration, writes int)
}

// Send outcomes.
const (
	OutcomeAccepted = "accepted" // stored, or a retry answered with the original
	OutcomeRefused  = "refused"  // a rule or the request said no
	OutcomeFailed   = "failed"   // the database did not answer
)

func outcome(err error) string {
	switch {
	case err == nil:
		return OutcomeAccepted
	case refused(err):
		return OutcomeRefused
	}
	return OutcomeFailed
}

// nopObserver is the Observer when none is set.
type nopObserver struct{}

func (nopObserver) SendDone(time.Duration, string)  {}
func (nopObserver) StoreDone(string, time.Duration) {}
func (nopObserver) GroupCommit(time.Duration, int)  {}
