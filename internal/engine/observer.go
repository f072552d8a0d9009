package engine

import (
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// Observer receives the engine's measurements; internal/metrics implements it with
// Prometheus collectors. Methods are called on hot paths: they must be cheap, must not
// block, and must be safe for concurrent use.
type Observer interface {
	// EventsIngested counts n committed events of a source (api, run, webhook, replay).
	EventsIngested(source string, n int)
	// RunsFinished counts n runs that ended with status (succeeded, failed, cancelled).
	RunsFinished(status string, n int)
	// StepStarted observes a claimed step's time in the queue: from ready to claimed.
	StepStarted(queued time.Duration)
	// StepFinished observes an attempt's execution time, from its claim to its result.
	StepFinished(execution time.Duration, succeeded bool)
	// StoreCommit observes one store transaction of the engine's write paths (op is
	// ingest, finish or expire).
	StoreCommit(op string, d time.Duration, err error)
	// WebhookVerificationFailed counts a webhook delivery refused because its signature
	// or credentials did not verify.
	WebhookVerificationFailed()
}

// nopObserver discards every measurement.
type nopObserver struct{}

func (nopObserver) EventsIngested(string, int)               {}
func (nopObserver) RunsFinished(string, int)                 {}
func (nopObserver) StepStarted(time.Duration)                {}
func (nopObserver) StepFinished(time.Duration, bool)         {}
func (nopObserver) StoreCommit(string, time.Duration, error) {}
func (nopObserver) WebhookVerificationFailed()               {}

// observeIngest counts what a committed ingest request stored.
func (ig *ingest) observeIngest(items []store.IngestItem) {
	var counts map[string]int
	for _, it := range items {
		if it.Event != nil && it.DeliverAt.IsZero() { // a delayed event counts when delivered
			if counts == nil {
				counts = map[string]int{}
			}
			counts[it.Event.Source]++
		}
		if it.Delivery != nil && it.Delivery.Verification == store.VerificationFailed {
			ig.cfg.Observer.WebhookVerificationFailed()
		}
	}
	for src, n := range counts {
		ig.cfg.Observer.EventsIngested(src, n)
	}
}

// observeRuns counts the runs that outcomes ended and, when results are given (one per
// outcome), the execution time of each accepted attempt.
func (dp *dispatch) observeRuns(outs []store.FinishOutcome, results []store.StepResult) {
	for i, o := range outs {
		if o.Err != nil {
			continue
		}
		switch o.RunStatus {
		case store.RunSucceeded, store.RunFailed, store.RunCancelled:
			dp.cfg.Observer.RunsFinished(o.RunStatus, 1)
		}
		if i < len(results) && !o.StartedAt.IsZero() {
			dp.cfg.Observer.StepFinished(results[i].At.Sub(o.StartedAt), results[i].Succeeded)
		}
	}
}
