package lifecycle

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// RunState is one run as a transaction read it, after taking the store's locks: its
// status and every step-run, in position order.
type RunState struct {
	ID, TenantID, Status string
	Steps                []store.StepRun
	// Row is the whole run, read only for a cancel (its answer).
	Row *store.Run
}

// StepWrite is the state a decision gave a step-run: the store writes it whole.
type StepWrite struct {
	ID, TenantID, WorkflowName string
	// From is the status the step-run had when the transaction read it (the SQLite store
	// keeps its ready queue with it: entering queued inserts, leaving queued deletes).
	From           string
	Status         string
	Output         json.RawMessage // nil: NULL
	Error          string
	LeaseID        string // "": NULL (every transition here clears it)
	PendingParents int
	Attempt        int
	LeaseLosses    int
	QueuedAt       *time.Time
	FinishedAt     *time.Time
	// AvailableAt is set when the step-run was (re)queued by the decisions: it is
	// claimable from then. Nil keeps the time the step-run had.
	AvailableAt *time.Time
}

// RunEnd ends a run. A nil Error keeps the run's error.
type RunEnd struct {
	ID, Status string
	Error      *string
	At         time.Time
}

// Change is what one decision writes.
type Change struct {
	Steps []StepWrite
	End   *RunEnd
}

// Finish decides what the result res does to the run r (a batch of one; see
// Batch.Finish).
func Finish(r RunState, res store.StepResult) (Change, store.FinishOutcome) {
	b := NewBatch([]RunState{r})
	o := b.Finish(res)
	return b.change(), o
}

// Expire decides what the expiry at now of the lease of step-run stepRunID of the run r
// does (a batch of one; see Batch.Expire).
func Expire(r RunState, stepRunID string, now time.Time) (Change, store.FinishOutcome, bool) {
	b := NewBatch([]RunState{r})
	o, ok := b.Expire(stepRunID, now)
	return b.change(), o, ok
}

// Cancel decides the cancellation of the run r at time at (a batch of one; see
// Batch.Cancel).
func Cancel(r RunState, at time.Time) (Change, error) {
	b := NewBatch([]RunState{r})
	err := b.Cancel(r.ID, at)
	return b.change(), err
}

// Finish records the worker's result res: it refuses a result for a step-run the batch
// does not hold or that belongs to another tenant (store.ErrNotFound) and one whose lease
// is not current (store.ErrStaleLease, in the outcome's Err); else the step succeeds or
// its attempt fails.
func (b *Batch) Finish(res store.StepResult) store.FinishOutcome {
	o := store.FinishOutcome{StepRunID: res.StepRunID}
	st, err := b.checkLease(res)
	if st != nil {
		o.RunID = st.RunID
	}
	if err != nil {
		o.Err = err
		return o
	}
	if st.StartedAt != nil {
		o.StartedAt = *st.StartedAt
	}
	if res.Succeeded {
		b.succeed(st, res.Output, res.At, &o)
	} else {
		b.failOrRetry(st, res.Error, res.Retryable, res.At, &o)
	}
	return o
}

// Expire handles the expiry at now of the lease of step-run stepRunID: past the deadline
// it is a timeout (a failed attempt, under the retry policy); before it the worker was
// lost, which queues the step again at once until it happened MaxLeaseLosses times, then
// fails the step for good. It returns false, changing nothing, when the batch does not
// hold the step-run (its run is locked elsewhere) or its lease is no longer expired at
// now (it finished, or a heartbeat extended it, meanwhile).
func (b *Batch) Expire(stepRunID string, now time.Time) (store.FinishOutcome, bool) {
	st := b.steps[stepRunID]
	if st == nil || st.Status != store.StepRunning || st.LeaseExpiresAt == nil || st.LeaseExpiresAt.After(now) {
		return store.FinishOutcome{}, false
	}
	o := store.FinishOutcome{StepRunID: st.ID, RunID: st.RunID}
	if fail, msg, retryable := expiry(*st, now); fail {
		b.failOrRetry(st, msg, retryable, now, &o)
	} else {
		b.requeueLost(st, now, &o)
	}
	return o, true
}

// Cancel ends the run runID cancelled at time at, with its steps that have not ended; a
// run that ended is refused with store.ErrConflict, one the batch does not hold with
// store.ErrNotFound. The run's Row, when read, is changed to match.
func (b *Batch) Cancel(runID string, at time.Time) error {
	r := b.runs[runID]
	if r == nil {
		return store.ErrNotFound
	}
	if r.Status != store.RunQueued && r.Status != store.RunRunning {
		return alreadyEnded(runID, r.Status)
	}
	msg := CancelledError
	b.end(r, store.RunCancelled, &msg, at)
	if r.Row != nil {
		t := at
		r.Row.Status, r.Row.Error, r.Row.FinishedAt = store.RunCancelled, msg, &t
	}
	return nil
}

// checkLease finds the step-run a result names. A step-run the batch does not hold, or
// one of another tenant, is not found; a result whose lease is not the step's current
// one, or that comes after the attempt's deadline, is stale.
func (b *Batch) checkLease(res store.StepResult) (*store.StepRun, error) {
	st := b.steps[res.StepRunID]
	if st == nil || st.TenantID != res.TenantID {
		return nil, store.ErrNotFound
	}
	if st.Status != store.StepRunning || st.LeaseID != res.LeaseID || st.DeadlineAt == nil || res.At.After(*st.DeadlineAt) {
		return st, store.ErrStaleLease
	}
	return st, nil
}

// succeed records st's success at time at, then advances the run.
func (b *Batch) succeed(st *store.StepRun, output json.RawMessage, at time.Time, o *store.FinishOutcome) {
	st.Status, st.Output, st.Error, st.FinishedAt, st.LeaseID = store.StepSucceeded, output, "", ptr(at), ""
	b.touch(st)
	b.advance(st, at, o)
}

// advance follows the success of st: each pending child of st has one parent fewer to
// wait for, and is queued (available at once) when none is left; when every step of the
// run succeeded, the run succeeds (if it had not ended).
func (b *Batch) advance(st *store.StepRun, at time.Time, o *store.FinishOutcome) {
	r := b.runs[st.RunID]
	done := true
	for i := range r.Steps {
		c := &r.Steps[i]
		if c.Status != store.StepSucceeded {
			done = false
		}
		if c.Status != store.StepPending || !slices.Contains(c.Parents, st.Step) {
			continue
		}
		pending := c.PendingParents - 1
		c.PendingParents = max(pending, 0)
		if pending <= 0 {
			c.Status, c.QueuedAt = store.StepQueued, ptr(at)
			b.queue(c, at, o)
		}
		b.touch(c)
	}
	o.RunStatus = store.RunRunning
	if done {
		o.RunStatus = store.RunSucceeded
		if r.Status == store.RunQueued || r.Status == store.RunRunning {
			b.end(r, store.RunSucceeded, nil, at)
		}
	}
}

// failOrRetry records a failed attempt of st at time at: with attempts left and a
// retryable error the step is queued again after its backoff; otherwise it fails, and its
// run fails with it.
func (b *Batch) failOrRetry(st *store.StepRun, msg string, retryable bool, at time.Time, o *store.FinishOutcome) {
	o.RunStatus = store.RunRunning
	if retryable && st.Attempt < st.MaxAttempts {
		st.Status, st.Error, st.LeaseID, st.QueuedAt = store.StepQueued, msg, "", ptr(at)
		b.touch(st)
		b.queue(st, at.Add(Backoff(st.Retry, st.Attempt)), o)
		return
	}
	st.Status, st.Error, st.FinishedAt, st.LeaseID = store.StepFailed, msg, ptr(at), ""
	b.touch(st)
	o.RunStatus = store.RunFailed
	runErr := runFailed(st.Step, msg)
	b.end(b.runs[st.RunID], store.RunFailed, &runErr, at)
}

// end ends the run r with status (and errMsg, unless nil) at time at: every step of it
// that has not ended is cancelled, which takes a queued one out of the ready queue.
func (b *Batch) end(r *RunState, status string, errMsg *string, at time.Time) {
	r.Status = status
	if _, ok := b.ends[r.ID]; !ok {
		b.endOrder = append(b.endOrder, r.ID)
	}
	b.ends[r.ID] = RunEnd{ID: r.ID, Status: status, Error: errMsg, At: at}
	for i := range r.Steps {
		st := &r.Steps[i]
		switch st.Status {
		case store.StepPending, store.StepQueued, store.StepRunning:
		default:
			continue
		}
		st.Status, st.FinishedAt, st.LeaseID = store.StepCancelled, ptr(at), ""
		b.touch(st)
	}
}

// requeueLost queues st again at once after its worker was lost (its lease expired before
// the deadline): the attempt is not counted, the loss is.
func (b *Batch) requeueLost(st *store.StepRun, at time.Time, o *store.FinishOutcome) {
	o.RunStatus = store.RunRunning
	st.Status, st.Attempt, st.LeaseLosses, st.LeaseID, st.Error, st.QueuedAt =
		store.StepQueued, st.Attempt-1, st.LeaseLosses+1, "", LeaseLostMessage, ptr(at)
	b.touch(st)
	b.queue(st, at, o)
}

// expiry decides what the expiry of st's lease at now means: at or past the deadline it
// is a timeout (a failed, retryable attempt); before it the worker was lost, which fails
// the step for good (not retryable) when that makes MaxLeaseLosses losses, and otherwise
// requeues it (fail false).
func expiry(st store.StepRun, now time.Time) (fail bool, msg string, retryable bool) {
	switch {
	case st.DeadlineAt != nil && !now.Before(*st.DeadlineAt):
		return true, timeoutMessage(st.TimeoutMS), true
	case st.LeaseLosses+1 >= MaxLeaseLosses:
		return true, lostTooOftenMessage(st.LeaseLosses + 1), false
	}
	return false, "", false
}

// ptr returns a pointer to a copy of t.
func ptr(t time.Time) *time.Time { return &t }
