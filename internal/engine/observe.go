package engine

import (
	"context"
	"errors"
	"fmt"
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

// storeIngest runs one ingest transaction and observes its latency.
func (e *Engine) storeIngest(ctx context.Context, items []store.IngestItem) error {
	start := time.Now()
	err := e.store.Ingest(ctx, items)
	e.cfg.Observer.StoreCommit("ingest", time.Since(start), err)
	return err
}

// observeIngest counts what a committed ingest request stored.
func (e *Engine) observeIngest(items []store.IngestItem) {
	var counts map[string]int
	for _, it := range items {
		if it.Event != nil && it.DeliverAt.IsZero() { // a delayed event counts when delivered
			if counts == nil {
				counts = map[string]int{}
			}
			counts[it.Event.Source]++
		}
		if it.Delivery != nil && it.Delivery.Verification == store.VerificationFailed {
			e.cfg.Observer.WebhookVerificationFailed()
		}
	}
	for src, n := range counts {
		e.cfg.Observer.EventsIngested(src, n)
	}
}

// observeRuns counts the runs that outcomes ended and, when results are given (one per
// outcome), the execution time of each accepted attempt.
func (e *Engine) observeRuns(outs []store.FinishOutcome, results []store.StepResult) {
	for i, o := range outs {
		if o.Err != nil {
			continue
		}
		switch o.RunStatus {
		case store.RunSucceeded, store.RunFailed, store.RunCancelled:
			e.cfg.Observer.RunsFinished(o.RunStatus, 1)
		}
		if i < len(results) && !o.StartedAt.IsZero() {
			e.cfg.Observer.StepFinished(results[i].At.Sub(o.StartedAt), results[i].Succeeded)
		}
	}
}

// Replay pushes a stored event again, as a new event with the same key, payload and
// metadata, matched against the workflows active now. The new event has source "replay"
// and records the original's id in ReplayOf; the original is unchanged.
func (e *Engine) Replay(ctx context.Context, tenantID, eventID string) (PushResult, error) {
	orig, err := e.store.GetEvent(ctx, tenantID, eventID)
	if err != nil {
		return PushResult{}, err
	}
	res, err := e.Push(ctx, tenantID, []EventInput{{
		Key: orig.Key, Payload: orig.Payload, Metadata: orig.Metadata, Scope: orig.Scope, ReplayOf: orig.ID,
	}}, false)
	if err != nil {
		return PushResult{}, fmt.Errorf("replaying event %s: %w", eventID, err)
	}
	return res[0], nil
}

// retain runs the retention duty: at start and every RetentionInterval, it prunes what is
// older than Retention.
func (e *Engine) retain(ctx context.Context) {
	t := time.NewTicker(e.cfg.RetentionInterval)
	defer t.Stop()
	for {
		if _, err := e.PruneOnce(ctx, e.now()); err != nil && ctx.Err() == nil {
			e.log.Warn("pruning old data failed", "err", err)
		}
		e.cfg.Signals.pruned()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PruneOnce deletes, batch after batch of RetentionBatch rows per kind and transaction,
// the events, ended runs and webhook deliveries created before at − Retention, and the
// dashboard sessions expired at at. Ingest goes on between batches. It returns what it
// deleted.
func (e *Engine) PruneOnce(ctx context.Context, at time.Time) (store.PruneResult, error) {
	var total store.PruneResult
	if e.cfg.Retention <= 0 {
		return total, nil
	}
	p := store.PruneParams{Before: at.Add(-e.cfg.Retention), Now: at, Limit: e.cfg.RetentionBatch}
	for ctx.Err() == nil {
		r, err := e.store.Prune(ctx, p)
		total.Events += r.Events
		total.Runs += r.Runs
		total.Deliveries += r.Deliveries
		total.Sessions += r.Sessions
		total.IdempotencyKeys += r.IdempotencyKeys
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return total, nil
			}
			return total, fmt.Errorf("pruning: %w", err)
		}
		if r.Events < p.Limit && r.Runs < p.Limit && r.Deliveries < p.Limit && r.Sessions < p.Limit && r.IdempotencyKeys < p.Limit {
			break
		}
	}
	if total.Total() > 0 {
		e.log.Info("pruned old data", "before", p.Before, "events", total.Events, "runs", total.Runs,
			"deliveries", total.Deliveries, "sessions", total.Sessions, "idempotency_keys", total.IdempotencyKeys)
	}
	return total, nil
}
