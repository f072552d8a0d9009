package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/heraldhq/herald/internal/store"
)

// EventInsert implements store.Store. Rows are written with multi-row INSERTs: one statement
// per table and chunk instead of one per row, which is most of the cost of a bulk push.
func (s *Store) EventInsert(ctx context.Context, items []store.IngestItem) error {
	var events, metadata, runs, steps, queue [][]any
	var deliveries []*store.WebhookDelivery
	var idem []store.IngestItem
	for _, it := range items {
		if it.IdempotencyKey != "" && it.Event != nil {
			idem = append(idem, it)
		}
		if it.OutboxID != "" {
			return fmt.Errorf("the embedded store has no outbox")
		}
		if e := it.Event; e != nil && it.DeliverAt.IsZero() {
			trig, err := json.Marshal(e.Triggers)
			if err != nil {
				return err
			}
			var meta any
			if len(e.Metadata) > 0 {
				meta = string(e.Metadata)
			}
			events = append(events, []any{e.ID, e.TenantID, e.Key, string(e.Payload), meta, e.Source,
				nullStr(e.ParentRunID), nullStr(e.ParentStepRunID), nullStr(e.ParentStep), string(trig), ms64(e.CreatedAt),
				nullStr(e.Scope), nullStr(e.Webhook), nullStr(e.DedupeID), nullStr(e.ReplayOf)})
			mrows, err := metadataRows(e)
			if err != nil {
				return err
			}
			metadata = append(metadata, mrows...)
		}
		if it.Delivery != nil {
			deliveries = append(deliveries, it.Delivery)
		}
		for _, r := range it.Runs {
			runs = append(runs, []any{r.Run.ID, r.Run.TenantID, r.Run.WorkflowID, r.Run.WorkflowName, r.Run.Version,
				nullStr(r.Run.EventID), r.Run.Status, string(r.Run.Input), ms64(r.Run.CreatedAt)})
			for _, st := range r.Steps {
				parents, _ := json.Marshal(st.Parents)
				retry, _ := json.Marshal(st.Retry)
				steps = append(steps, []any{st.ID, st.TenantID, st.RunID, st.WorkflowName, st.Step, st.Position,
					string(parents), st.PendingParents, st.Status, st.MaxAttempts, st.TimeoutMS, string(retry), nullMS(st.QueuedAt)})
				if st.Status == store.StepQueued {
					if st.QueuedAt == nil {
						return fmt.Errorf("step-run %s is queued without a queued_at time", st.ID)
					}
					queue = append(queue, []any{st.ID, st.TenantID, st.WorkflowName, ms64(*st.QueuedAt)})
				}
			}
		}
	}
	return s.write(ctx, "ingesting", func(tx *wtx) error {
		for _, it := range idem {
			res, err := tx.ExecContext(ctx, claimIdempotencySQL, it.Event.TenantID, it.IdempotencyKey, it.Event.ID,
				ms64(it.IdempotencyExpiresAt), ms64(it.Event.CreatedAt))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return fmt.Errorf("idempotency key %q is taken: %w", it.IdempotencyKey, store.ErrConflict)
			}
		}
		if err := ingestScheduled(ctx, tx, items); err != nil {
			return err
		}
		if err := insertRows(ctx, tx, "events", []string{"id", "tenant_id", "key", "payload", "metadata", "source",
			"parent_run_id", "parent_step_run_id", "parent_step", "triggers", "created_at", "scope", "webhook", "dedupe_id", "replay_of"}, events); err != nil {
			return err
		}
		if err := insertRows(ctx, tx, "event_metadata", []string{"tenant_id", "name", "value", "event_id"}, metadata); err != nil {
			return err
		}
		for _, d := range deliveries {
			if _, err := tx.ExecContext(ctx, insertDeliverySQL, deliveryArgs(d)...); err != nil {
				return err
			}
		}
		if err := insertRows(ctx, tx, "runs", []string{"id", "tenant_id", "workflow_id", "workflow_name", "version", "event_id",
			"status", "input", "created_at"}, runs); err != nil {
			return err
		}
		if err := insertRows(ctx, tx, "step_runs", []string{"id", "tenant_id", "run_id", "workflow_name", "step", "position",
			"parents", "pending_parents", "status", "max_attempts", "timeout_ms", "retry", "queued_at"}, steps); err != nil {
			return err
		}
		return insertRows(ctx, tx, "step_queue", []string{"step_run_id", "tenant_id", "workflow_name", "available_at"}, queue)
	})
}

// claimIdempotencySQL takes an idempotency key for an event: a new key is inserted, an
// expired one taken over, a live one left alone (no row affected). Under concurrent
// claims the unique key serializes them: the loser sees the winner's live row.
const claimIdempotencySQL = `INSERT INTO idempotency_keys (tenant_id, key, event_id, expires_at) VALUES (?, ?, ?, ?)
	ON CONFLICT (tenant_id, key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at
	WHERE idempotency_keys.expires_at <= ?`

// EventGetIdempotent implements store.Store.
func (s *Store) EventGetIdempotent(ctx context.Context, p store.IdempotencyParams) (store.Event, error) {
	e, err := scanEvent(s.r.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE tenant_id = ? AND id =
		(SELECT event_id FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND expires_at > ?)`, p.TenantID, p.TenantID, p.Key, ms64(p.At)))
	return e, mapErr("getting idempotent event", err)
}

// maxInsertVars bounds the parameters of one multi-row INSERT.
const maxInsertVars = 8000

// maxInsertRows bounds the rows of one multi-row INSERT.
const maxInsertRows = 256

// insertRows inserts rows into table with multi-row INSERTs of a power of two rows each,
// largest first (37 rows: 32, 4 and 1), so that a table has a few statement shapes, each
// prepared once (see stmtCache), whatever the batch sizes.
func insertRows(ctx context.Context, tx *wtx, table string, cols []string, rows [][]any) error {
	most := 1
	for most*2 <= maxInsertRows && most*2*len(cols) <= maxInsertVars {
		most *= 2
	}
	tuple := "(" + placeholders(len(cols)) + ")"
	head := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	args := make([]any, 0, most*len(cols))
	for n := most; len(rows) > 0; {
		for n > len(rows) {
			n /= 2
		}
		args = args[:0]
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		q := head + strings.TrimSuffix(strings.Repeat(tuple+", ", n), ", ")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// RunStepName implements store.Store.
func (s *Store) RunStepName(ctx context.Context, p store.RunStepNameParams) (string, error) {
	if p.StepRunID == "" {
		var one int
		err := s.r.QueryRowContext(ctx, `SELECT 1 FROM runs WHERE tenant_id = ? AND id = ?`, p.TenantID, p.RunID).Scan(&one)
		return "", mapErr("getting run", err)
	}
	var step string
	err := s.r.QueryRowContext(ctx, `SELECT step FROM step_runs WHERE tenant_id = ? AND run_id = ? AND id = ?`, p.TenantID, p.RunID, p.StepRunID).Scan(&step)
	return step, mapErr("getting step-run", err)
}

const eventCols = `id, tenant_id, key, payload, metadata, source, parent_run_id, parent_step_run_id, parent_step, triggers, created_at,
	scope, webhook, dedupe_id, replay_of`

func scanEvent(row store.Scanner) (store.Event, error) {
	var e store.Event
	var payload, trig string
	var meta, prun, pstep, pname, scope, webhook, dedupe, replayOf sql.NullString
	var created int64
	if err := row.Scan(&e.ID, &e.TenantID, &e.Key, &payload, &meta, &e.Source, &prun, &pstep, &pname, &trig, &created,
		&scope, &webhook, &dedupe, &replayOf); err != nil {
		return e, err
	}
	e.Scope, e.Webhook, e.DedupeID, e.ReplayOf = scope.String, webhook.String, dedupe.String, replayOf.String
	e.Payload = json.RawMessage(payload)
	if meta.Valid {
		e.Metadata = json.RawMessage(meta.String)
	}
	e.ParentRunID, e.ParentStepRunID, e.ParentStep = prun.String, pstep.String, pname.String
	if err := json.Unmarshal([]byte(trig), &e.Triggers); err != nil {
		return e, fmt.Errorf("decoding triggers of event %s: %w", e.ID, err)
	}
	e.CreatedAt = fromMS(created)
	return e, nil
}

// EventGet implements store.Store.
func (s *Store) EventGet(ctx context.Context, tenantID, id string) (store.Event, error) {
	e, err := scanEvent(s.r.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE tenant_id = ? AND id = ?`, tenantID, id))
	return e, mapErr("getting event", err)
}

// EventList implements store.Store.
func (s *Store) EventList(ctx context.Context, tenantID string, f store.EventFilter) ([]store.Event, error) {
	where, args := eventFilter(tenantID, f, true)
	args = append(args, f.Limit)
	// Pick the page's ids first, then read their rows: when a filter makes SQLite sort,
	// it sorts ids rather than whole events with their payloads.
	rows, err := s.r.QueryContext(ctx, `SELECT `+eventCols+` FROM events WHERE id IN (SELECT id FROM events WHERE `+
		strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?) ORDER BY id DESC`, args...)
	if err != nil {
		return nil, mapErr("listing events", err)
	}
	out, err := collect(rows, scanEvent)
	return out, mapErr("listing events", err)
}

const runCols = `id, tenant_id, workflow_id, workflow_name, version, event_id, status, input, error, created_at, started_at, finished_at`

func scanRun(row store.Scanner) (store.Run, error) {
	var r store.Run
	var event sql.NullString
	var input string
	var created int64
	var started, finished sql.NullInt64
	if err := row.Scan(&r.ID, &r.TenantID, &r.WorkflowID, &r.WorkflowName, &r.Version, &event, &r.Status, &input, &r.Error,
		&created, &started, &finished); err != nil {
		return r, err
	}
	r.EventID, r.Input = event.String, json.RawMessage(input)
	r.CreatedAt, r.StartedAt, r.FinishedAt = fromMS(created), ptrMS(started), ptrMS(finished)
	return r, nil
}

const stepCols = `id, tenant_id, run_id, workflow_name, step, position, parents, pending_parents, status, attempt, max_attempts,
	timeout_ms, retry, lease_id, worker_id, lease_expires_at, deadline_at, output, error, lease_losses, queued_at, started_at, finished_at`

func scanStep(row store.Scanner) (store.StepRun, error) {
	var st store.StepRun
	var parents, retry string
	var lease, worker, output sql.NullString
	var leaseExp, deadline, queued, started, finished sql.NullInt64
	if err := row.Scan(&st.ID, &st.TenantID, &st.RunID, &st.WorkflowName, &st.Step, &st.Position, &parents, &st.PendingParents,
		&st.Status, &st.Attempt, &st.MaxAttempts, &st.TimeoutMS, &retry, &lease, &worker, &leaseExp, &deadline, &output, &st.Error,
		&st.LeaseLosses, &queued, &started, &finished); err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(parents), &st.Parents); err != nil {
		return st, fmt.Errorf("decoding parents of step-run %s: %w", st.ID, err)
	}
	if err := json.Unmarshal([]byte(retry), &st.Retry); err != nil {
		return st, fmt.Errorf("decoding retry of step-run %s: %w", st.ID, err)
	}
	st.LeaseID, st.WorkerID = lease.String, worker.String
	if output.Valid {
		st.Output = json.RawMessage(output.String)
	}
	st.LeaseExpiresAt, st.DeadlineAt = ptrMS(leaseExp), ptrMS(deadline)
	st.QueuedAt, st.StartedAt, st.FinishedAt = ptrMS(queued), ptrMS(started), ptrMS(finished)
	return st, nil
}

type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func runSteps(ctx context.Context, q queryer, runID string) ([]store.StepRun, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+stepCols+` FROM step_runs WHERE run_id = ? ORDER BY position`, runID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanStep)
}

// RunGet implements store.Store.
func (s *Store) RunGet(ctx context.Context, tenantID, id string) (store.Run, []store.StepRun, error) {
	r, err := scanRun(s.r.QueryRowContext(ctx, `SELECT `+runCols+` FROM runs WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if err != nil {
		return r, nil, mapErr("getting run", err)
	}
	steps, err := runSteps(ctx, s.r, id)
	return r, steps, mapErr("getting run steps", err)
}

// RunList implements store.Store.
func (s *Store) RunList(ctx context.Context, tenantID string, f store.RunFilter) ([]store.Run, error) {
	where, args := []string{"tenant_id = ?"}, []any{tenantID}
	if f.EventID != "" {
		// An event has few runs: find them through runs_event_workflow, not by scanning
		// the tenant's runs ("+" keeps SQLite from using a tenant_id index).
		where[0] = "+tenant_id = ?"
	}
	if f.Workflow != "" {
		where, args = append(where, "workflow_name = ?"), append(args, f.Workflow)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.EventID != "" {
		where, args = append(where, "event_id = ?"), append(args, f.EventID)
	}
	sconds, sargs := runSearchConds(tenantID, f)
	where, args = append(where, sconds...), append(args, sargs...)
	if f.Before != "" {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	args = append(args, f.Limit)
	rows, err := s.r.QueryContext(ctx, `SELECT `+runCols+` FROM runs WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, mapErr("listing runs", err)
	}
	out, err := collect(rows, scanRun)
	return out, mapErr("listing runs", err)
}
