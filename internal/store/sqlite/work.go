package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// WorkerRegister implements store.Store.
func (s *Store) WorkerRegister(ctx context.Context, w store.Worker) error {
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

// WorkerGet implements store.Store.
func (s *Store) WorkerGet(ctx context.Context, tenantID, id string) (store.Worker, error) {
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

// StepClaim implements store.Store.
func (s *Store) StepClaim(ctx context.Context, p store.ClaimParams) ([]store.Assignment, error) {
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

// StepHeartbeat implements store.Store.
func (s *Store) StepHeartbeat(ctx context.Context, p store.HeartbeatParams) ([]string, error) {
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

// StepNextAvailable implements store.Store: the first entry of each workflow's part of the
// ready queue (the index step_queue_ready), the workflows passed as one JSON array.
func (s *Store) StepNextAvailable(ctx context.Context, tenantID string, workflows []string) (time.Time, bool, error) {
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

// StepReadySince implements store.Store.
func (s *Store) StepReadySince(ctx context.Context, after, upTo time.Time) ([]store.WorkKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT q.tenant_id, q.workflow_name FROM step_queue q JOIN step_runs s ON s.id = q.step_run_id
		WHERE q.available_at > ? AND q.available_at <= ? AND q.available_at > s.queued_at`,
		ms64(after), ms64(upTo))
	if err != nil {
		return nil, mapErr("listing ready queues", err)
	}
	out, err := collect(rows, func(r store.Scanner) (store.WorkKey, error) {
		var k store.WorkKey
		err := r.Scan(&k.TenantID, &k.Workflow)
		return k, err
	})
	return out, mapErr("listing ready queues", err)
}
