package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/lifecycle"
	"github.com/heraldhq/herald/internal/store"
)

// StepFinish implements store.Store in a fixed number of round trips whatever the batch
// size: it locks the runs of every result in one statement (in id order, so concurrent
// batches cannot deadlock on them), reads all their step-runs with a fresh snapshot, has
// the lifecycle apply the results in order in memory (lifecycle.FinishMany), and writes
// every change in one pipelined batch with the COMMIT and the wake-ups (txWake).
func (s *Store) StepFinish(ctx context.Context, results []store.StepResult) ([]store.FinishOutcome, error) {
	var out []store.FinishOutcome
	err := s.txWake(ctx, "finishing steps", func(tx pgx.Tx) (*pgx.Batch, []store.WorkKey, error) {
		t := newPgTx(tx)
		var err error
		if out, err = lifecycle.FinishMany(ctx, t, results); err != nil {
			return nil, nil, err
		}
		var keys []store.WorkKey
		for i, o := range out {
			keys = append(keys, lifecycle.ReadyNow(o, results[i].At)...)
		}
		return t.batch, keys, nil
	})
	return out, err
}

// StepExpireLeases implements store.Store. It is safe on every replica at once: each run is
// locked with SKIP LOCKED, so a run another replica (or a completion) holds is left for
// the next sweep.
func (s *Store) StepExpireLeases(ctx context.Context, now time.Time, limit int) ([]store.FinishOutcome, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, run_id FROM step_runs WHERE status = 'running' AND lease_expires_at <= $1
		ORDER BY lease_expires_at LIMIT $2`, now, limit)
	if err != nil {
		return nil, mapErr("expiring leases", err)
	}
	cands, err := collect(rows, func(r pgx.Row) (lifecycle.Candidate, error) {
		var c lifecycle.Candidate
		err := r.Scan(&c.StepRunID, &c.RunID)
		return c, err
	})
	if err != nil || len(cands) == 0 {
		return nil, mapErr("expiring leases", err)
	}
	var out []store.FinishOutcome
	err = s.txWake(ctx, "expiring leases", func(tx pgx.Tx) (*pgx.Batch, []store.WorkKey, error) {
		t := newPgTx(tx)
		var err error
		if out, err = lifecycle.ExpireMany(ctx, t, now, cands); err != nil {
			return nil, nil, err
		}
		var keys []store.WorkKey
		for _, o := range out {
			keys = append(keys, lifecycle.ReadyNow(o, now)...)
		}
		return t.batch, keys, nil
	})
	return out, err
}

// RunCancel implements store.Store.
func (s *Store) RunCancel(ctx context.Context, p store.RunCancelParams) (store.Run, error) {
	var r store.Run
	if !store.ValidID(p.ID) {
		return r, store.ErrNotFound
	}
	err := s.txWake(ctx, "cancelling run", func(tx pgx.Tx) (*pgx.Batch, []store.WorkKey, error) {
		t := newPgTx(tx)
		var err error
		r, err = lifecycle.CancelRun(ctx, t, p.TenantID, p.ID, p.At)
		return t.batch, nil, err
	})
	return r, err
}

// The statements of pgTx.RunStateLoad. Runs are locked in id order, so that concurrent
// transactions cannot deadlock on them.
const (
	// lockResultRunsSQL locks the runs of the step-runs of (step-run, tenant) pairs.
	lockResultRunsSQL = `SELECT id, status FROM runs WHERE id IN
			(SELECT s.run_id FROM step_runs s JOIN unnest($1::uuid[], $2::uuid[]) AS r(id, tenant_id)
				ON s.id = r.id AND s.tenant_id = r.tenant_id)
			ORDER BY id FOR UPDATE`
	// lockRunsSQL locks runs by id.
	lockRunsSQL = `SELECT id, status FROM runs WHERE id = ANY($1) ORDER BY id FOR UPDATE`
	// lockRunSQL locks and reads one run of a tenant.
	lockRunSQL = `SELECT ` + runCols + ` FROM runs WHERE tenant_id = $1 AND id = $2 FOR UPDATE`
	// lockStepRunsSQL locks those of step-runs $1 that belong to the runs $2.
	lockStepRunsSQL = `SELECT 1 FROM step_runs WHERE id = ANY($1::uuid[]) AND run_id = ANY($2::uuid[]) ORDER BY id FOR UPDATE`
	// runStepsSQL reads the step-runs of runs.
	runStepsSQL = `SELECT ` + stepCols + ` FROM step_runs WHERE run_id = ANY($1) ORDER BY run_id, position`
)

// pgTx is a transaction as the lifecycle drives it (lifecycle.Tx): it reads at once and
// queues its writes in batch, which txWake sends with the COMMIT in one round trip.
type pgTx struct {
	tx    pgx.Tx
	batch *pgx.Batch
}

func newPgTx(tx pgx.Tx) *pgTx { return &pgTx{tx: tx, batch: &pgx.Batch{}} }

// RunStateLoad implements lifecycle.Tx: it locks the runs (one statement), then the
// step-runs p.LockStepRuns of them, then reads all their step-runs: a new snapshot, which
// sees what the holders of the locks it waited for committed. Heartbeats lock only
// step-runs, so LockStepRuns makes a heartbeat either commit before the read (and be
// seen) or wait for this transaction (and find what it wrote). A step-run id that is not
// an id names no step-run.
func (t *pgTx) RunStateLoad(ctx context.Context, p lifecycle.RunStateLoadParams) ([]lifecycle.RunState, error) {
	if p.RunID != "" {
		return t.loadRun(ctx, p.RunID, p.TenantID)
	}
	var rows pgx.Rows
	var err error
	skip := ""
	if p.SkipLocked {
		skip = " SKIP LOCKED"
	}
	if p.RunIDs != nil {
		rows, err = t.tx.Query(ctx, lockRunsSQL+skip, p.RunIDs)
	} else {
		ids, tenants := make([]string, 0, len(p.StepRunIDs)), make([]string, 0, len(p.StepRunIDs))
		for i, id := range p.StepRunIDs {
			if store.ValidID(id) {
				ids, tenants = append(ids, id), append(tenants, p.TenantIDs[i])
			}
		}
		rows, err = t.tx.Query(ctx, lockResultRunsSQL+skip, ids, tenants)
	}
	if err != nil {
		return nil, err
	}
	runs, err := collect(rows, func(r pgx.Row) (lifecycle.RunState, error) {
		var rs lifecycle.RunState
		err := r.Scan(&rs.ID, &rs.Status)
		return rs, err
	})
	if err != nil || len(runs) == 0 {
		return nil, err
	}
	runIDs := make([]string, len(runs))
	for i, r := range runs {
		runIDs[i] = r.ID
	}
	if len(p.LockStepRuns) > 0 {
		if _, err := t.tx.Exec(ctx, lockStepRunsSQL, p.LockStepRuns, runIDs); err != nil {
			return nil, err
		}
	}
	return runs, t.readSteps(ctx, runs, runIDs)
}

// loadRun locks and reads the tenant's run id with its step-runs; none when there is no
// such run.
func (t *pgTx) loadRun(ctx context.Context, id, tenantID string) ([]lifecycle.RunState, error) {
	r, err := scanRun(t.tx.QueryRow(ctx, lockRunSQL, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	runs := []lifecycle.RunState{{ID: r.ID, TenantID: r.TenantID, Status: r.Status, Row: &r}}
	return runs, t.readSteps(ctx, runs, []string{r.ID})
}

// readSteps reads the step-runs of runs (whose ids are runIDs, in order).
func (t *pgTx) readSteps(ctx context.Context, runs []lifecycle.RunState, runIDs []string) error {
	rows, err := t.tx.Query(ctx, runStepsSQL, runIDs)
	if err != nil {
		return err
	}
	steps, err := collect(rows, scanStep)
	if err != nil {
		return err
	}
	at := make(map[string]int, len(runs))
	for i, r := range runs {
		at[r.ID] = i
	}
	for _, st := range steps {
		r := &runs[at[st.RunID]]
		r.TenantID, r.Steps = st.TenantID, append(r.Steps, st)
	}
	return nil
}

// StepRunSetStateMany implements lifecycle.Tx: one UPDATE of every step-run from arrays,
// queued in the transaction's batch. A step-run's place in the ready queue follows its
// status (the partial index step_runs_ready) and its available_at.
func (t *pgTx) StepRunSetStateMany(_ context.Context, p lifecycle.StepRunSetStateManyParams) error {
	n := len(p.Steps)
	ids, statuses, errs := make([]string, n), make([]string, n), make([]string, n)
	outputs, leases := make([]*string, n), make([]*string, n)
	finished, queued, avail := make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
	pending, attempts, losses := make([]int32, n), make([]int32, n), make([]int32, n)
	for i, w := range p.Steps {
		ids[i], statuses[i], errs[i] = w.ID, w.Status, w.Error
		if w.Output != nil {
			v := string(w.Output)
			outputs[i] = &v
		}
		if w.LeaseID != "" {
			v := w.LeaseID
			leases[i] = &v
		}
		finished[i], queued[i], avail[i] = w.FinishedAt, w.QueuedAt, w.AvailableAt
		pending[i], attempts[i], losses[i] = int32(w.PendingParents), int32(w.Attempt), int32(w.LeaseLosses)
	}
	t.batch.Queue(`UPDATE step_runs s SET status = u.status, output = u.output::jsonb, error = u.error, finished_at = u.finished_at,
				lease_id = u.lease_id, pending_parents = u.pending, queued_at = u.queued_at, attempt = u.attempt, lease_losses = u.losses,
				available_at = COALESCE(u.available_at, s.available_at)
			FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::int[], $8::timestamptz[],
				$9::int[], $10::int[], $11::timestamptz[])
				AS u(id, status, output, error, finished_at, lease_id, pending, queued_at, attempt, losses, available_at)
			WHERE s.id = u.id`, ids, statuses, outputs, errs, finished, leases, pending, queued, attempts, losses, avail)
	return nil
}

// RunSetEndedMany implements lifecycle.Tx: one UPDATE of every run from arrays, queued in
// the transaction's batch.
func (t *pgTx) RunSetEndedMany(_ context.Context, p lifecycle.RunSetEndedManyParams) error {
	n := len(p.Ends)
	ids, statuses, errs, at := make([]string, n), make([]string, n), make([]*string, n), make([]time.Time, n)
	for i, e := range p.Ends {
		ids[i], statuses[i], errs[i], at[i] = e.ID, e.Status, e.Error, e.At
	}
	t.batch.Queue(`UPDATE runs r SET status = u.status, error = COALESCE(u.error, r.error), finished_at = u.finished_at
			FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS u(id, status, error, finished_at)
			WHERE r.id = u.id`, ids, statuses, errs, at)
	return nil
}
