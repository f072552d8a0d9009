package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

// WorkerRegister implements store.Store.
func (s *Store) WorkerRegister(ctx context.Context, w store.Worker) error {
	wfs, err := json.Marshal(w.Workflows)
	if err != nil {
		return fmt.Errorf("encoding workflows: %w", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO workers (id, tenant_id, name, workflows, slots, created_at, last_heartbeat_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, w.ID, w.TenantID, w.Name, json.RawMessage(wfs), w.Slots, w.CreatedAt, w.LastHeartbeatAt)
	return mapErr("registering worker", err)
}

// WorkerGet implements store.Store.
func (s *Store) WorkerGet(ctx context.Context, tenantID, id string) (store.Worker, error) {
	var w store.Worker
	var wfs []byte
	err := s.pool.QueryRow(ctx, `SELECT id, tenant_id, name, workflows, slots, created_at, last_heartbeat_at FROM workers
		WHERE tenant_id = $1 AND id = $2`, tenantID, id).Scan(&w.ID, &w.TenantID, &w.Name, &wfs, &w.Slots, &w.CreatedAt, &w.LastHeartbeatAt)
	if err != nil {
		return w, mapErr("getting worker", err)
	}
	if err := json.Unmarshal(wfs, &w.Workflows); err != nil {
		return w, fmt.Errorf("decoding worker workflows: %w", err)
	}
	w.CreatedAt, w.LastHeartbeatAt = w.CreatedAt.UTC(), w.LastHeartbeatAt.UTC()
	return w, nil
}

// claimSQL leases ready step-runs in one statement (one round trip, its own
// transaction): queued step-runs are picked from the ready queue (the partial index
// step_runs_ready) with FOR UPDATE SKIP LOCKED, so concurrent claimers on any replica
// never take the same step-run; they are leased (the n-th picked row gets the n-th lease
// id of $5), which takes them out of the queue, their runs start, and each assignment
// comes back with its run's input.
const claimSQL = `WITH picked AS MATERIALIZED (
		SELECT step_run_id, available_at, row_number() OVER (ORDER BY available_at, step_run_id) AS n
		FROM (SELECT id AS step_run_id, available_at FROM step_runs
			WHERE tenant_id = $1 AND workflow_name = ANY($2) AND status = 'queued' AND available_at <= $3
			ORDER BY available_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) q),
	leased AS (
		UPDATE step_runs s SET status = 'running', attempt = s.attempt + 1, lease_id = l.lease_id,
			worker_id = $6, started_at = $3, error = '',
			deadline_at = $3::timestamptz + s.timeout_ms * interval '1 millisecond',
			lease_expires_at = LEAST($3::timestamptz + $7 * interval '1 millisecond', $3::timestamptz + s.timeout_ms * interval '1 millisecond')
		FROM picked JOIN unnest($5::text[]) WITH ORDINALITY AS l(lease_id, n) ON l.n = picked.n
		WHERE s.id = picked.step_run_id AND s.status = 'queued'
		RETURNING s.id, s.lease_id, s.run_id, s.workflow_name, s.step, s.attempt, s.max_attempts, s.parents,
			s.deadline_at, s.lease_expires_at, picked.available_at),
	started AS (
		UPDATE runs r SET status = 'running', started_at = $3
		WHERE r.id IN (SELECT run_id FROM leased) AND r.status = 'queued')
	SELECT l.id, l.lease_id, l.run_id, l.workflow_name, l.step, l.attempt, l.max_attempts, l.parents,
		l.deadline_at, l.lease_expires_at, l.available_at, r.input, r.event_id, r.version
	FROM leased l JOIN runs r ON r.id = l.run_id
	ORDER BY l.available_at, l.id`

// StepClaim implements store.Store: one statement leases the step-runs (see claimSQL), and a
// second reads the outputs of their parents when any has parents.
func (s *Store) StepClaim(ctx context.Context, p store.ClaimParams) ([]store.Assignment, error) {
	if len(p.Workflows) == 0 || p.Max <= 0 {
		return nil, nil
	}
	leases := make([]string, p.Max)
	for i := range leases {
		leases[i] = p.NewLeaseID()
	}
	rows, err := s.pool.Query(ctx, claimSQL, p.TenantID, p.Workflows, p.Now, p.Max, leases, p.WorkerID, p.LeaseFor.Milliseconds())
	if err != nil {
		return nil, mapErr("claiming steps", err)
	}
	var out []store.Assignment
	parents := map[string][]string{} // step-run id -> parent step names
	var withParents []string         // runs whose outputs are needed
	for rows.Next() {
		var a store.Assignment
		var pj []byte
		var eventID *string
		if err := rows.Scan(&a.StepRunID, &a.LeaseID, &a.RunID, &a.Workflow, &a.Step, &a.Attempt, &a.MaxAttempts, &pj,
			&a.Deadline, &a.LeaseExpiresAt, &a.AvailableAt, &a.Input, &eventID, &a.Version); err != nil {
			rows.Close()
			return nil, mapErr("claiming steps", err)
		}
		var ps []string
		if err := json.Unmarshal(pj, &ps); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claiming steps: decoding parents of step-run %s: %w", a.StepRunID, err)
		}
		if len(ps) > 0 {
			parents[a.StepRunID] = ps
			withParents = append(withParents, a.RunID)
		}
		a.Deadline, a.LeaseExpiresAt, a.AvailableAt = a.Deadline.UTC(), a.LeaseExpiresAt.UTC(), a.AvailableAt.UTC()
		a.EventID = deref(eventID)
		a.Parents = map[string]json.RawMessage{}
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, mapErr("claiming steps", err)
	}
	if len(withParents) == 0 {
		return out, nil
	}
	// Succeeded steps never change again, so their outputs need no lock.
	rows, err = s.pool.Query(ctx, `SELECT run_id, step, output FROM step_runs WHERE run_id = ANY($1) AND status = 'succeeded'`, withParents)
	if err != nil {
		return nil, mapErr("reading parent outputs", err)
	}
	outputs := map[string]map[string]json.RawMessage{} // run -> step -> output
	for rows.Next() {
		var run, step string
		var output []byte
		if err := rows.Scan(&run, &step, &output); err != nil {
			rows.Close()
			return nil, mapErr("reading parent outputs", err)
		}
		if outputs[run] == nil {
			outputs[run] = map[string]json.RawMessage{}
		}
		outputs[run][step] = output
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, mapErr("reading parent outputs", err)
	}
	for i := range out {
		a := &out[i]
		for _, pn := range parents[a.StepRunID] {
			a.Parents[pn] = outputs[a.RunID][pn]
		}
	}
	return out, nil
}

// StepHeartbeat implements store.Store.
func (s *Store) StepHeartbeat(ctx context.Context, p store.HeartbeatParams) ([]string, error) {
	var lost []string
	err := s.tx(ctx, "heartbeat", func(tx pgx.Tx) error {
		lost = lost[:0]
		tag, err := tx.Exec(ctx, `UPDATE workers SET last_heartbeat_at = $1 WHERE tenant_id = $2 AND id = $3`, p.Now, p.TenantID, p.WorkerID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		if len(p.Leases) == 0 {
			return nil
		}
		// A step-run id that is not an id names no step-run: its lease is lost.
		ids, leases := make([]string, 0, len(p.Leases)), make([]string, 0, len(p.Leases))
		for _, l := range p.Leases {
			if store.ValidID(l.StepRunID) {
				ids, leases = append(ids, l.StepRunID), append(leases, l.LeaseID)
			}
		}
		rows, err := tx.Query(ctx, `UPDATE step_runs s SET lease_expires_at = LEAST($1, s.deadline_at)
			FROM unnest($4::uuid[], $5::text[]) AS l(id, lease_id)
			WHERE s.id = l.id AND s.lease_id = l.lease_id AND s.tenant_id = $2 AND s.worker_id = $3 AND s.status = 'running'
				AND s.lease_expires_at > $6
			RETURNING s.id`, p.Now.Add(p.LeaseFor), p.TenantID, p.WorkerID, ids, leases, p.Now)
		if err != nil {
			return err
		}
		kept, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		held := map[string]bool{}
		for _, id := range kept {
			held[id] = true
		}
		for _, l := range p.Leases {
			if !held[l.StepRunID] {
				lost = append(lost, l.StepRunID)
			}
		}
		return nil
	})
	return lost, err
}

// readySinceSQL lists the queues of deferred queued steps available in ($1, $2] (the
// partial index step_runs_deferred).
const readySinceSQL = `SELECT DISTINCT tenant_id, workflow_name FROM step_runs
	WHERE status = 'queued' AND available_at > queued_at AND available_at > $1 AND available_at <= $2`

// StepNextAvailable implements store.Store: the first entry of each workflow's part of the
// ready queue (the partial index step_runs_ready).
func (s *Store) StepNextAvailable(ctx context.Context, tenantID string, workflows []string) (time.Time, bool, error) {
	if !store.ValidID(tenantID) || len(workflows) == 0 {
		return time.Time{}, false, nil
	}
	var at *time.Time
	err := s.pool.QueryRow(ctx, `SELECT min(x.available_at) FROM unnest($2::text[]) AS w(name),
		LATERAL (SELECT available_at FROM step_runs WHERE tenant_id = $1 AND workflow_name = w.name AND status = 'queued'
			ORDER BY available_at LIMIT 1) x`, tenantID, workflows).Scan(&at)
	if err != nil || at == nil {
		return time.Time{}, false, mapErr("reading the ready queue", err)
	}
	return at.UTC(), true, nil
}

// StepReadySince implements store.Store.
func (s *Store) StepReadySince(ctx context.Context, after, upTo time.Time) ([]store.WorkKey, error) {
	rows, err := s.pool.Query(ctx, readySinceSQL, after, upTo)
	if err != nil {
		return nil, mapErr("listing ready queues", err)
	}
	out, err := collect(rows, func(r pgx.Row) (store.WorkKey, error) {
		var k store.WorkKey
		err := r.Scan(&k.TenantID, &k.Workflow)
		return k, err
	})
	return out, mapErr("listing ready queues", err)
}
