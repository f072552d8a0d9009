package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// RegisterWorker implements store.Store.
func (s *Store) RegisterWorker(ctx context.Context, w store.Worker) error {
	wfs, err := json.Marshal(w.Workflows)
	if err != nil {
		return fmt.Errorf("encoding workflows: %w", err)
	}
	return s.write(ctx, "registering worker", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO workers (id, tenant_id, name, workflows, slots, created_at, last_heartbeat_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, w.ID, w.TenantID, w.Name, string(wfs), w.Slots, ms64(w.CreatedAt), ms64(w.LastHeartbeatAt))
		return err
	})
}

// GetWorker implements store.Store.
func (s *Store) GetWorker(ctx context.Context, tenantID, id string) (store.Worker, error) {
	var w store.Worker
	var wfs string
	var created, hb int64
	err := s.r.QueryRowContext(ctx, `SELECT id, tenant_id, name, workflows, slots, created_at, last_heartbeat_at FROM workers
		WHERE tenant_id = ? AND id = ?`, tenantID, id).Scan(&w.ID, &w.TenantID, &w.Name, &wfs, &w.Slots, &created, &hb)
	if err != nil {
		return w, mapErr("getting worker", err)
	}
	if err := json.Unmarshal([]byte(wfs), &w.Workflows); err != nil {
		return w, fmt.Errorf("decoding worker workflows: %w", err)
	}
	w.CreatedAt, w.LastHeartbeatAt = fromMS(created), fromMS(hb)
	return w, nil
}

// Claim implements store.Store.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) ([]store.Assignment, error) {
	if len(p.Workflows) == 0 || p.Max <= 0 {
		return nil, nil
	}
	var out []store.Assignment
	now := ms64(p.Now)
	err := s.write(ctx, "claiming steps", func(tx *wtx) error {
		args := []any{p.TenantID}
		for _, w := range p.Workflows {
			args = append(args, w)
		}
		args = append(args, now, p.Max)
		rows, err := tx.QueryContext(ctx, `SELECT step_run_id, available_at FROM step_queue WHERE tenant_id = ? AND workflow_name IN (`+
			placeholders(len(p.Workflows))+`) AND available_at <= ? ORDER BY available_at, step_run_id LIMIT ?`, args...)
		if err != nil {
			return err
		}
		var ids []string
		avail := map[string]int64{}
		for rows.Next() {
			var id string
			var av int64
			if err := rows.Scan(&id, &av); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
			avail[id] = av
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `DELETE FROM step_queue WHERE step_run_id = ?`, id); err != nil {
				return err
			}
			a := store.Assignment{StepRunID: id, LeaseID: p.NewLeaseID(), AvailableAt: fromMS(avail[id])}
			var parents string
			var deadline, leaseExp int64
			err := tx.QueryRowContext(ctx, `UPDATE step_runs SET status = 'running', attempt = attempt + 1, lease_id = ?, worker_id = ?,
				started_at = ?, deadline_at = ? + timeout_ms, lease_expires_at = MIN(? + ?, ? + timeout_ms), error = ''
				WHERE id = ? AND status = 'queued'
				RETURNING run_id, workflow_name, step, attempt, max_attempts, parents, deadline_at, lease_expires_at`,
				a.LeaseID, p.WorkerID, now, now, now, p.LeaseFor.Milliseconds(), now, id).
				Scan(&a.RunID, &a.Workflow, &a.Step, &a.Attempt, &a.MaxAttempts, &parents, &deadline, &leaseExp)
			if err == sql.ErrNoRows {
				continue // queue row without a queued step: already handled
			}
			if err != nil {
				return err
			}
			a.Deadline, a.LeaseExpiresAt = fromMS(deadline), fromMS(leaseExp)
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'`, now, a.RunID); err != nil {
				return err
			}
			var input string
			var event sql.NullString
			if err := tx.QueryRowContext(ctx, `SELECT input, event_id, version FROM runs WHERE id = ?`, a.RunID).Scan(&input, &event, &a.Version); err != nil {
				return err
			}
			a.Input, a.EventID = json.RawMessage(input), event.String
			var parentNames []string
			if err := json.Unmarshal([]byte(parents), &parentNames); err != nil {
				return err
			}
			a.Parents = map[string]json.RawMessage{}
			if len(parentNames) > 0 {
				pargs := []any{a.RunID}
				for _, pn := range parentNames {
					pargs = append(pargs, pn)
				}
				prow, err := tx.QueryContext(ctx, `SELECT step, output FROM step_runs WHERE run_id = ? AND step IN (`+placeholders(len(parentNames))+`)`, pargs...)
				if err != nil {
					return err
				}
				for prow.Next() {
					var name string
					var output sql.NullString
					if err := prow.Scan(&name, &output); err != nil {
						prow.Close()
						return err
					}
					a.Parents[name] = json.RawMessage(output.String)
				}
				prow.Close()
				if err := prow.Err(); err != nil {
					return err
				}
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Heartbeat implements store.Store.
func (s *Store) Heartbeat(ctx context.Context, p store.HeartbeatParams) ([]string, error) {
	var lost []string
	err := s.write(ctx, "heartbeat", func(tx *wtx) error {
		lost = lost[:0]
		res, err := tx.ExecContext(ctx, `UPDATE workers SET last_heartbeat_at = ? WHERE tenant_id = ? AND id = ?`, ms64(p.Now), p.TenantID, p.WorkerID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		until := ms64(p.Now.Add(p.LeaseFor))
		for _, l := range p.Leases {
			res, err := tx.ExecContext(ctx, `UPDATE step_runs SET lease_expires_at = MIN(?, deadline_at)
				WHERE id = ? AND tenant_id = ? AND lease_id = ? AND worker_id = ? AND status = 'running' AND lease_expires_at > ?`,
				until, l.StepRunID, p.TenantID, l.LeaseID, p.WorkerID, ms64(p.Now))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				lost = append(lost, l.StepRunID)
			}
		}
		return nil
	})
	return lost, err
}

// FinishSteps implements store.Store.
func (s *Store) FinishSteps(ctx context.Context, results []store.StepResult) ([]store.FinishOutcome, error) {
	var out []store.FinishOutcome
	err := s.write(ctx, "finishing steps", func(tx *wtx) error {
		out = out[:0]
		for _, res := range results {
			o, err := finishOne(ctx, tx, res)
			if err != nil {
				return err
			}
			out = append(out, o)
		}
		return nil
	})
	return out, err
}

func finishOne(ctx context.Context, tx *wtx, res store.StepResult) (store.FinishOutcome, error) {
	o := store.FinishOutcome{StepRunID: res.StepRunID}
	st, err := scanStep(tx.QueryRowContext(ctx, `SELECT `+stepCols+` FROM step_runs WHERE id = ? AND tenant_id = ?`, res.StepRunID, res.TenantID))
	if err == sql.ErrNoRows {
		o.Err = store.ErrNotFound
		return o, nil
	}
	if err != nil {
		return o, err
	}
	o.RunID = st.RunID
	if st.Status != store.StepRunning || st.LeaseID != res.LeaseID || st.DeadlineAt == nil || res.At.After(*st.DeadlineAt) {
		o.Err = store.ErrStaleLease
		return o, nil
	}
	if st.StartedAt != nil {
		o.StartedAt = *st.StartedAt
	}
	if res.Succeeded {
		return succeed(ctx, tx, st, res.Output, res.At, o)
	}
	return fail(ctx, tx, st, res.Error, res.Retryable, res.At, o)
}

// succeed records a step's success, queues the children it unblocks and ends the run when
// every step succeeded.
func succeed(ctx context.Context, tx *wtx, st store.StepRun, output json.RawMessage, at time.Time, o store.FinishOutcome) (store.FinishOutcome, error) {
	now := ms64(at)
	if _, err := tx.ExecContext(ctx, `UPDATE step_runs SET status = 'succeeded', output = ?, error = '', finished_at = ?, lease_id = NULL
		WHERE id = ?`, string(output), now, st.ID); err != nil {
		return o, err
	}
	steps, err := runSteps(ctx, tx, st.RunID)
	if err != nil {
		return o, err
	}
	children, done := store.AfterSuccess(steps, st.Step)
	for _, ch := range children {
		c := ch.Step
		status := store.StepPending
		var queued any
		if ch.Ready {
			status, queued = store.StepQueued, now
			if _, err := tx.ExecContext(ctx, `INSERT INTO step_queue (step_run_id, tenant_id, workflow_name, available_at) VALUES (?, ?, ?, ?)`,
				c.ID, c.TenantID, c.WorkflowName, now); err != nil {
				return o, err
			}
			o.Queued = append(o.Queued, store.QueuedWork{WorkKey: store.WorkKey{TenantID: c.TenantID, Workflow: c.WorkflowName}, AvailableAt: at})
		}
		if _, err := tx.ExecContext(ctx, `UPDATE step_runs SET pending_parents = ?, status = ?, queued_at = ? WHERE id = ?`,
			ch.PendingParents, status, queued, c.ID); err != nil {
			return o, err
		}
	}
	o.RunStatus = store.RunRunning
	if done {
		o.RunStatus = store.RunSucceeded
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = 'succeeded', finished_at = ? WHERE id = ? AND status IN ('queued', 'running')`,
			now, st.RunID); err != nil {
			return o, err
		}
	}
	return o, nil
}

// fail records a failed attempt: queued again after its backoff when attempts are left and
// the error is retryable, otherwise the step and its run fail.
func fail(ctx context.Context, tx *wtx, st store.StepRun, msg string, retryable bool, at time.Time, o store.FinishOutcome) (store.FinishOutcome, error) {
	now := ms64(at)
	o.RunStatus = store.RunRunning
	if retryable && st.Attempt < st.MaxAttempts {
		avail := at.Add(st.Retry.Backoff(st.Attempt))
		if _, err := tx.ExecContext(ctx, `UPDATE step_runs SET status = 'queued', error = ?, lease_id = NULL, queued_at = ? WHERE id = ?`,
			msg, now, st.ID); err != nil {
			return o, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO step_queue (step_run_id, tenant_id, workflow_name, available_at) VALUES (?, ?, ?, ?)`,
			st.ID, st.TenantID, st.WorkflowName, ms64(avail)); err != nil {
			return o, err
		}
		o.Queued = append(o.Queued, store.QueuedWork{WorkKey: store.WorkKey{TenantID: st.TenantID, Workflow: st.WorkflowName}, AvailableAt: avail})
		return o, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE step_runs SET status = 'failed', error = ?, finished_at = ?, lease_id = NULL WHERE id = ?`,
		msg, now, st.ID); err != nil {
		return o, err
	}
	o.RunStatus = store.RunFailed
	return o, endRun(ctx, tx, st.RunID, store.RunFailed, fmt.Sprintf("step %s failed: %s", st.Step, msg), at)
}

// ExpireLeases implements store.Store.
func (s *Store) ExpireLeases(ctx context.Context, now time.Time, limit int) ([]store.FinishOutcome, error) {
	var out []store.FinishOutcome
	err := s.write(ctx, "expiring leases", func(tx *wtx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `SELECT `+stepCols+` FROM step_runs WHERE status = 'running' AND lease_expires_at <= ?
			ORDER BY lease_expires_at LIMIT ?`, ms64(now), limit)
		if err != nil {
			return err
		}
		var expired []store.StepRun
		for rows.Next() {
			st, err := scanStep(rows)
			if err != nil {
				rows.Close()
				return err
			}
			expired = append(expired, st)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, st := range expired {
			o := store.FinishOutcome{StepRunID: st.ID, RunID: st.RunID}
			if action, msg, retryable := store.Expiry(st, now); action == store.ExpiryFail {
				o, err = fail(ctx, tx, st, msg, retryable, now, o)
			} else {
				o.RunStatus = store.RunRunning
				if _, err = tx.ExecContext(ctx, `UPDATE step_runs SET status = 'queued', attempt = attempt - 1, lease_losses = lease_losses + 1,
					lease_id = NULL, error = ?, queued_at = ? WHERE id = ?`, store.LeaseLostMessage, ms64(now), st.ID); err != nil {
					return err
				}
				_, err = tx.ExecContext(ctx, `INSERT INTO step_queue (step_run_id, tenant_id, workflow_name, available_at) VALUES (?, ?, ?, ?)`,
					st.ID, st.TenantID, st.WorkflowName, ms64(now))
				o.Queued = append(o.Queued, store.QueuedWork{WorkKey: store.WorkKey{TenantID: st.TenantID, Workflow: st.WorkflowName}, AvailableAt: now})
			}
			if err != nil {
				return err
			}
			out = append(out, o)
		}
		return nil
	})
	return out, err
}

// NextAvailable implements store.Store: the first entry of each workflow's part of the
// ready queue (the index step_queue_ready), the workflows passed as one JSON array.
func (s *Store) NextAvailable(ctx context.Context, tenantID string, workflows []string) (time.Time, bool, error) {
	if len(workflows) == 0 {
		return time.Time{}, false, nil
	}
	names, err := json.Marshal(workflows)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("reading the ready queue: %w", err)
	}
	var at sql.NullInt64
	err = s.r.QueryRowContext(ctx, `SELECT min((SELECT min(q.available_at) FROM step_queue q WHERE q.tenant_id = ? AND q.workflow_name = w.value))
		FROM json_each(?) w`, tenantID, string(names)).Scan(&at)
	if err != nil || !at.Valid {
		return time.Time{}, false, mapErr("reading the ready queue", err)
	}
	return fromMS(at.Int64), true, nil
}

// ReadySince implements store.Store.
func (s *Store) ReadySince(ctx context.Context, after, upTo time.Time) ([]store.WorkKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT q.tenant_id, q.workflow_name FROM step_queue q JOIN step_runs s ON s.id = q.step_run_id
		WHERE q.available_at > ? AND q.available_at <= ? AND q.available_at > s.queued_at`,
		ms64(after), ms64(upTo))
	if err != nil {
		return nil, mapErr("listing ready queues", err)
	}
	defer rows.Close()
	var out []store.WorkKey
	for rows.Next() {
		var k store.WorkKey
		if err := rows.Scan(&k.TenantID, &k.Workflow); err != nil {
			return nil, mapErr("listing ready queues", err)
		}
		out = append(out, k)
	}
	return out, mapErr("listing ready queues", rows.Err())
}
