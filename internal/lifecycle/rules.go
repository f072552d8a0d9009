// Package lifecycle decides what happens to a run and its step-runs when a worker reports
// a result, when a lease expires and when the run is cancelled: the rules of a step's
// life, written once for every store.
//
// It never talks SQL. A store opens its transaction and hands it to one of the three
// orchestrations (FinishMany, ExpireMany, CancelRun) as a Tx: the orchestration reads the
// runs the change touches (Tx.RunStateLoad, under the store's locks), decides in memory
// (Batch), and has the store write the decided states (Tx.StepRunSetStateMany,
// Tx.RunSetEndedMany). The decisions are pure functions of what was read, so they are
// tested here without a database, and the stores' conformance suite proves that each
// store reads and writes what they decide.
//
// Claims and heartbeats are the exception, on purpose: each store applies them as one SQL
// statement per batch, since a claim is on the path from a push to a step's start and
// deciding it here would hold row locks across a round trip. The rule they apply is
// stated once, by LeaseUntil: a claim sets the step-run running for its next attempt, with
// a deadline of the claim's time plus the step's timeout and a lease until LeaseUntil; a
// heartbeat extends a lease to LeaseUntil while the step-run is running under that lease
// and worker and its lease has not expired, and reports it lost otherwise.
package lifecycle

import (
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// MaxLeaseLosses is how many times a step may lose its worker (lease expiry without a
// result) before it fails; lease losses do not count against the retry policy.
const MaxLeaseLosses = 10

// LeaseLostMessage is the error a step shows while it waits to be rerun after its worker
// was lost.
const LeaseLostMessage = "worker lost: lease expired"

// CancelledError is the error of a cancelled run.
const CancelledError = "cancelled"

// runFailed is the error of a run whose step failed for good.
func runFailed(step, msg string) string {
	return fmt.Sprintf("step %s failed: %s", step, msg)
}

// timeoutMessage is the error of an attempt that reached its deadline.
func timeoutMessage(timeoutMS int64) string {
	return fmt.Sprintf("timeout: the step did not finish within %s", time.Duration(timeoutMS)*time.Millisecond)
}

// lostTooOftenMessage is the error of a step whose lease expired the n-th time, n having
// reached MaxLeaseLosses.
func lostTooOftenMessage(n int) string {
	return fmt.Sprintf("worker lost: the lease expired %d times", n)
}

// alreadyEnded is the refusal to cancel a run that ended.
func alreadyEnded(runID, status string) error {
	return fmt.Errorf("run %s already %s: %w", runID, status, store.ErrConflict)
}

// Backoff returns the wait before attempt+1 after attempt failed (attempt starts at 1):
// r's initial backoff, multiplied by r.Multiplier for each attempt after the first,
// capped at r.MaxBackoffMS.
func Backoff(r store.RetryDef, attempt int) time.Duration {
	d := float64(r.InitialBackoffMS)
	for i := 1; i < attempt; i++ {
		d *= r.Multiplier
		if d >= float64(r.MaxBackoffMS) {
			break
		}
	}
	if d > float64(r.MaxBackoffMS) {
		d = float64(r.MaxBackoffMS)
	}
	return time.Duration(d) * time.Millisecond
}

// LeaseUntil is when a lease taken or extended at now for leaseFor ends: never past the
// attempt's deadline. Each store computes it in the SQL of its claim and heartbeat
// statements (see the package documentation).
func LeaseUntil(now time.Time, leaseFor time.Duration, deadline time.Time) time.Time {
	if until := now.Add(leaseFor); until.Before(deadline) {
		return until
	}
	return deadline
}

// ReadyNow lists the queues to which the outcome of a change made at time at queued work
// available at once (children of a succeeded step, steps requeued after a lost worker):
// those whose workers a store wakes when the change commits. Work available later (a
// retry's backoff) is found when it is due (store.Store.StepReadySince).
func ReadyNow(o store.FinishOutcome, at time.Time) []store.WorkKey {
	var keys []store.WorkKey
	for _, q := range o.Queued {
		if !q.AvailableAt.After(at) {
			keys = append(keys, q.WorkKey)
		}
	}
	return keys
}
