package lifecycle

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// Tx is a store's open transaction as the lifecycle drives it.
type Tx interface {
	// RunStateLoad reads, under the store's locks, the runs named by p and all their
	// step-runs, in position order. A run it cannot find (or, with p.SkipLocked, that
	// another transaction holds) is left out.
	RunStateLoad(ctx context.Context, p RunStateLoadParams) ([]RunState, error)
	// StepRunSetStateMany writes each step-run's decided state and keeps the ready queue in
	// step with it (AvailableAt for one entering queued; removal for one leaving it).
	StepRunSetStateMany(ctx context.Context, p StepRunSetStateManyParams) error
	// RunSetEndedMany writes the ends of runs.
	RunSetEndedMany(ctx context.Context, p RunSetEndedManyParams) error
}

// RunStateLoadParams name the runs a transaction reads: those of step-runs (finish,
// expiry), or one run (cancel).
type RunStateLoadParams struct {
	// StepRunIDs names step-runs whose runs to read. TenantIDs, parallel to it, gives the
	// tenant of the result naming each (finish): a store may read only the runs of
	// matching (step-run, tenant) pairs (the decision refuses the others anyway).
	StepRunIDs []string
	TenantIDs  []string
	// RunIDs, parallel to StepRunIDs, gives the run of each step-run when the caller read
	// it before the transaction (expiry): a store may lock the runs by these ids.
	RunIDs []string
	// RunID and TenantID name one run (cancel), read with its row (RunState.Row).
	RunID, TenantID string
	// SkipLocked skips runs another transaction holds (expiry on several replicas).
	SkipLocked bool
	// LockStepRuns also locks these step-runs, so that a heartbeat cannot extend a lease
	// between the read and the write (expiry).
	LockStepRuns []string
}

// StepRunSetStateManyParams are the arguments of Tx.StepRunSetStateMany: step-runs'
// decided states, in the order they first changed.
type StepRunSetStateManyParams struct{ Steps []StepWrite }

// RunSetEndedManyParams are the arguments of Tx.RunSetEndedMany.
type RunSetEndedManyParams struct{ Ends []RunEnd }

// Candidate is a step-run whose lease a store found expired, with its run.
type Candidate struct {
	StepRunID, RunID string
}

// FinishMany records workers' results in the transaction tx: one read of the runs of
// every result, the results applied in order (each sees those before it), then the
// writes. Each result gets its outcome (a refused one has Err set). It is safe to call
// again on a new transaction when a store retries one (it keeps nothing between calls).
func FinishMany(ctx context.Context, tx Tx, results []store.StepResult) ([]store.FinishOutcome, error) {
	p := RunStateLoadParams{StepRunIDs: make([]string, len(results)), TenantIDs: make([]string, len(results))}
	for i, r := range results {
		p.StepRunIDs[i], p.TenantIDs[i] = r.StepRunID, r.TenantID
	}
	runs, err := tx.RunStateLoad(ctx, p)
	if err != nil {
		return nil, err
	}
	b := NewBatch(runs)
	out := make([]store.FinishOutcome, len(results))
	for i, res := range results {
		out[i] = b.Finish(res)
	}
	return out, b.write(ctx, tx)
}

// ExpireMany handles, in the transaction tx, the step-runs whose leases a store found
// expired at now (see Batch.Expire): their runs are read skipping those another
// transaction holds, and the candidates are locked, so that the outcomes list only
// step-runs whose leases were still expired under the locks, in the order of candidates.
// It is safe to call again on a new transaction.
func ExpireMany(ctx context.Context, tx Tx, now time.Time, candidates []Candidate) ([]store.FinishOutcome, error) {
	p := RunStateLoadParams{StepRunIDs: make([]string, len(candidates)), RunIDs: make([]string, len(candidates)), SkipLocked: true}
	for i, c := range candidates {
		p.StepRunIDs[i], p.RunIDs[i] = c.StepRunID, c.RunID
	}
	p.LockStepRuns = p.StepRunIDs
	runs, err := tx.RunStateLoad(ctx, p)
	if err != nil {
		return nil, err
	}
	b := NewBatch(runs)
	var out []store.FinishOutcome
	for _, c := range candidates {
		if o, ok := b.Expire(c.StepRunID, now); ok {
			out = append(out, o)
		}
	}
	return out, b.write(ctx, tx)
}

// CancelRun cancels the tenant's run runID at time at in the transaction tx (see
// Batch.Cancel) and returns the run as it now is. A run that ended is refused with
// store.ErrConflict (the run is returned as read), an unknown one with
// store.ErrNotFound. It is safe to call again on a new transaction.
func CancelRun(ctx context.Context, tx Tx, tenantID, runID string, at time.Time) (store.Run, error) {
	runs, err := tx.RunStateLoad(ctx, RunStateLoadParams{RunID: runID, TenantID: tenantID})
	if err != nil {
		return store.Run{}, err
	}
	if len(runs) != 1 || runs[0].ID != runID || runs[0].Row == nil {
		return store.Run{}, store.ErrNotFound
	}
	b := NewBatch(runs)
	if err := b.Cancel(runID, at); err != nil {
		return *runs[0].Row, err
	}
	return *runs[0].Row, b.write(ctx, tx)
}

// write has tx write what the batch decided (nothing when nothing changed).
func (b *Batch) write(ctx context.Context, tx Tx) error {
	steps, ends := b.Writes()
	if len(steps) > 0 {
		if err := tx.StepRunSetStateMany(ctx, StepRunSetStateManyParams{Steps: steps}); err != nil {
			return err
		}
	}
	if len(ends) > 0 {
		return tx.RunSetEndedMany(ctx, RunSetEndedManyParams{Ends: ends})
	}
	return nil
}
