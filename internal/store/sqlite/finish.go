package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/lifecycle"
	"github.com/heraldhq/herald/internal/store"
)

// StepFinish implements store.Store: in one write transaction, one statement reads the
// runs of every result with their step-runs, the lifecycle applies the results in order
// (lifecycle.FinishMany), and each changed step-run and ended run is written.
func (s *Store) StepFinish(ctx context.Context, results []store.StepResult) ([]store.FinishOutcome, error) {
	var out []store.FinishOutcome
	err := s.write(ctx, "finishing steps", func(tx *wtx) error {
		var err error
		out, err = lifecycle.FinishMany(ctx, sqliteTx{tx}, results)
		return err
	})
	return out, err
}

// StepExpireLeases implements store.Store: the step-runs whose leases expired, oldest lease
// first, are handled by the lifecycle (lifecycle.ExpireMany) in the same write
// transaction.
func (s *Store) StepExpireLeases(ctx context.Context, now time.Time, limit int) ([]store.FinishOutcome, error) {
	var out []store.FinishOutcome
	err := s.write(ctx, "expiring leases", func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, run_id FROM step_runs WHERE status = 'running' AND lease_expires_at <= ?
			ORDER BY lease_expires_at LIMIT ?`, ms64(now), limit)
		if err != nil {
			return err
		}
		cands, err := collect(rows, func(r store.Scanner) (lifecycle.Candidate, error) {
			var c lifecycle.Candidate
			err := r.Scan(&c.StepRunID, &c.RunID)
			return c, err
		})
		if err != nil || len(cands) == 0 {
			return err
		}
		out, err = lifecycle.ExpireMany(ctx, sqliteTx{tx}, now, cands)
		return err
	})
	return out, err
}

// RunCancel implements store.Store.
func (s *Store) RunCancel(ctx context.Context, p store.RunCancelParams) (store.Run, error) {
	var r store.Run
	err := s.write(ctx, "cancelling run", func(tx *wtx) error {
		var err error
		r, err = lifecycle.CancelRun(ctx, sqliteTx{tx}, p.TenantID, p.ID, p.At)
		return err
	})
	return r, err
}

// runStateSQL reads the runs of the step-runs named by a JSON array of ids, with all
// their step-runs: each row is a step-run, after its run's status. The ids come as one
// argument, so the statement's text is the same for every batch (the writer caches
// statements by their text).
const runStateSQL = `SELECT (SELECT r.status FROM runs r WHERE r.id = step_runs.run_id), ` + stepCols + ` FROM step_runs
	WHERE run_id IN (SELECT run_id FROM step_runs WHERE id IN (SELECT value FROM json_each(?)))
	ORDER BY run_id, position`

// sqliteTx is a write transaction as the lifecycle drives it (lifecycle.Tx). The store
// has one writer, so what it reads stays as read until it commits: it takes no locks.
// Every statement's text is fixed.
type sqliteTx struct{ tx *wtx }

// RunStateLoad implements lifecycle.Tx, in one statement for step-runs (whatever their
// number) and two for a cancel's run.
func (t sqliteTx) RunStateLoad(ctx context.Context, p lifecycle.RunStateLoadParams) ([]lifecycle.RunState, error) {
	if p.RunID != "" {
		r, err := scanRun(t.tx.QueryRowContext(ctx, `SELECT `+runCols+` FROM runs WHERE tenant_id = ? AND id = ?`, p.TenantID, p.RunID))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		steps, err := runSteps(ctx, t.tx, r.ID)
		return []lifecycle.RunState{{ID: r.ID, TenantID: r.TenantID, Status: r.Status, Steps: steps, Row: &r}}, err
	}
	ids, err := json.Marshal(p.StepRunIDs)
	if err != nil {
		return nil, fmt.Errorf("encoding step-run ids: %w", err)
	}
	rows, err := t.tx.QueryContext(ctx, runStateSQL, string(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var runs []lifecycle.RunState
	for rows.Next() {
		var status string
		st, err := scanStep(withFirst{rows, &status})
		if err != nil {
			return nil, err
		}
		if n := len(runs); n == 0 || runs[n-1].ID != st.RunID {
			runs = append(runs, lifecycle.RunState{ID: st.RunID, TenantID: st.TenantID, Status: status})
		}
		r := &runs[len(runs)-1]
		r.Steps = append(r.Steps, st)
	}
	return runs, rows.Err()
}

// withFirst scans a row's first column into first and the others as row's scanner
// would.
type withFirst struct {
	row   interface{ Scan(...any) error }
	first any
}

func (w withFirst) Scan(dest ...any) error { return w.row.Scan(append([]any{w.first}, dest...)...) }

// StepRunSetStateMany implements lifecycle.Tx: one UPDATE per step-run, and its ready
// queue row inserted (entering queued) or deleted (leaving queued).
func (t sqliteTx) StepRunSetStateMany(ctx context.Context, p lifecycle.StepRunSetStateManyParams) error {
	for _, w := range p.Steps {
		var output any
		if w.Output != nil {
			output = string(w.Output)
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE step_runs SET status = ?, output = ?, error = ?, finished_at = ?, lease_id = ?,
			pending_parents = ?, queued_at = ?, attempt = ?, lease_losses = ? WHERE id = ?`,
			w.Status, output, w.Error, nullMS(w.FinishedAt), nullStr(w.LeaseID), w.PendingParents, nullMS(w.QueuedAt), w.Attempt,
			w.LeaseLosses, w.ID); err != nil {
			return err
		}
		switch {
		case w.Status == store.StepQueued && w.From != store.StepQueued:
			if w.AvailableAt == nil {
				return fmt.Errorf("step-run %s queued without a time it is available at", w.ID)
			}
			if _, err := t.tx.ExecContext(ctx, `INSERT INTO step_queue (step_run_id, tenant_id, workflow_name, available_at) VALUES (?, ?, ?, ?)`,
				w.ID, w.TenantID, w.WorkflowName, ms64(*w.AvailableAt)); err != nil {
				return err
			}
		case w.From == store.StepQueued && w.Status != store.StepQueued:
			if _, err := t.tx.ExecContext(ctx, `DELETE FROM step_queue WHERE step_run_id = ?`, w.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// RunSetEndedMany implements lifecycle.Tx: one UPDATE per run.
func (t sqliteTx) RunSetEndedMany(ctx context.Context, p lifecycle.RunSetEndedManyParams) error {
	for _, e := range p.Ends {
		var errMsg any
		if e.Error != nil {
			errMsg = *e.Error
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE runs SET status = ?, error = COALESCE(?, error), finished_at = ? WHERE id = ?`,
			e.Status, errMsg, ms64(e.At), e.ID); err != nil {
			return err
		}
	}
	return nil
}
