package store

import (
	"fmt"
	"slices"
	"time"
)

// ChildUpdate is a pending step whose parent just succeeded: its new count of parents
// still to succeed, and whether that makes it ready to queue.
type ChildUpdate struct {
	Step           StepRun
	PendingParents int
	Ready          bool
}

// AfterSuccess decides, from a run's step-runs read after step finished succeeded, which
// children it unblocks and whether the whole run has succeeded. Every store applies the
// same decision with its own SQL.
func AfterSuccess(steps []StepRun, finished string) (children []ChildUpdate, runDone bool) {
	runDone = true
	for _, c := range steps {
		if c.Status != StepSucceeded {
			runDone = false
		}
		if c.Status != StepPending || !slices.Contains(c.Parents, finished) {
			continue
		}
		pending := c.PendingParents - 1
		children = append(children, ChildUpdate{Step: c, PendingParents: max(pending, 0), Ready: pending <= 0})
	}
	return children, runDone
}

// ExpiryAction is what an expired lease does to its step.
type ExpiryAction int

// Expiry actions.
const (
	// ExpiryRequeue queues the step again at once; the lost worker costs no attempt.
	ExpiryRequeue ExpiryAction = iota
	// ExpiryFail records a failed attempt (Retryable says whether the policy applies).
	ExpiryFail
)

// Expiry decides what the expiry of st's lease at now means: past the deadline it is a
// timeout (a failed, retryable attempt); before it the worker was lost, which requeues
// the step until MaxLeaseLosses, then fails it for good.
func Expiry(st StepRun, now time.Time) (action ExpiryAction, msg string, retryable bool) {
	switch {
	case st.DeadlineAt != nil && !now.Before(*st.DeadlineAt):
		return ExpiryFail, fmt.Sprintf("timeout: the step did not finish within %s", time.Duration(st.TimeoutMS)*time.Millisecond), true
	case st.LeaseLosses+1 >= MaxLeaseLosses:
		return ExpiryFail, fmt.Sprintf("worker lost: the lease expired %d times", st.LeaseLosses+1), false
	}
	return ExpiryRequeue, LeaseLostMessage, false
}

// LeaseLostMessage is the error a step shows while it waits to be rerun after its worker
// was lost.
const LeaseLostMessage = "worker lost: lease expired"
