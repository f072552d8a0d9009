package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

// EventInsert implements store.Store: every row in one transaction, as arrays in one pipelined
// round trip when the batch is small, else COPY; the queues of its ready steps are woken
// right after the commit (commitAndWake).
func (s *Store) EventInsert(ctx context.Context, items []store.IngestItem) error {
	var events, runs, steps, deliveries [][]any
	var keys []store.WorkKey
	var outbox []string
	var idem []store.IngestItem
	for _, it := range items {
		if it.IdempotencyKey != "" && it.Event != nil {
			idem = append(idem, it)
		}
		if it.OutboxID != "" {
			outbox = append(outbox, it.OutboxID)
		}
		if e := it.Event; e != nil && it.DeliverAt.IsZero() {
			trig, err := json.Marshal(e.Triggers)
			if err != nil {
				return err
			}
			var meta any
			if len(e.Metadata) > 0 {
				meta = e.Metadata
			}
			events = append(events, []any{e.ID, e.TenantID, e.Key, e.Payload, meta, e.Source, nullStr(e.ParentRunID),
				nullStr(e.ParentStepRunID), nullStr(e.ParentStep), json.RawMessage(trig), e.CreatedAt,
				nullStr(e.Scope), nullStr(e.Webhook), nullStr(e.DedupeID), nullStr(e.ReplayOf)})
		}
		if d := it.Delivery; d != nil {
			deliveries = append(deliveries, deliveryRow(d))
		}
		for _, r := range it.Runs {
			runs = append(runs, []any{r.Run.ID, r.Run.TenantID, r.Run.WorkflowID, r.Run.WorkflowName, r.Run.Version,
				nullStr(r.Run.EventID), r.Run.Status, r.Run.Input, r.Run.CreatedAt})
			for _, st := range r.Steps {
				parents, _ := json.Marshal(st.Parents)
				retry, _ := json.Marshal(st.Retry)
				// A queued step is available at once: available_at puts it in the ready
				// queue (the partial index step_runs_ready).
				var avail *time.Time
				if st.Status == store.StepQueued {
					avail = st.QueuedAt
					keys = append(keys, store.WorkKey{TenantID: st.TenantID, Workflow: st.WorkflowName})
				}
				steps = append(steps, []any{st.ID, st.TenantID, st.RunID, st.WorkflowName, st.Step, st.Position,
					json.RawMessage(parents), st.PendingParents, st.Status, st.MaxAttempts, st.TimeoutMS, json.RawMessage(retry), st.QueuedAt, avail})
			}
		}
	}
	copies := []copyRows{
		{"events", []string{"id", "tenant_id", "key", "payload", "metadata", "source", "parent_run_id", "parent_step_run_id", "parent_step", "triggers", "created_at",
			"scope", "webhook", "dedupe_id", "replay_of"},
			[]string{"uuid", "uuid", "text", "jsonb", "jsonb", "text", "text", "text", "text", "jsonb", "timestamptz", "text", "text", "text", "text"}, events},
		{"runs", []string{"id", "tenant_id", "workflow_id", "workflow_name", "version", "event_id", "status", "input", "created_at"},
			[]string{"uuid", "uuid", "uuid", "text", "int", "uuid", "text", "jsonb", "timestamptz"}, runs},
		{"step_runs", []string{"id", "tenant_id", "run_id", "workflow_name", "step", "position", "parents", "pending_parents", "status", "max_attempts", "timeout_ms", "retry", "queued_at", "available_at"},
			[]string{"uuid", "uuid", "uuid", "text", "text", "int", "jsonb", "int", "text", "int", "bigint", "jsonb", "timestamptz", "timestamptz"}, steps},
		{"webhook_deliveries", deliveryCols, deliveryTypes, deliveries},
	}
	// Up to unnestMaxRows rows a table are INSERTed by one statement of arrays, all in one
	// pipelined batch; more are COPied.
	small := &pgx.Batch{}
	if len(outbox) > 0 {
		small.Queue(`DELETE FROM herald_outbox WHERE id = ANY($1)`, outbox)
	}
	var large []copyRows
	for _, c := range copies {
		switch {
		case len(c.rows) == 0:
		case len(c.rows) <= unnestMaxRows:
			q, args, err := c.unnestInsert()
			if err != nil {
				return fmt.Errorf("ingesting: %w", err)
			}
			small.Queue(q, args...)
		default:
			large = append(large, c)
		}
	}
	sched := hasScheduled(items)
	if len(idem) == 0 && len(large) == 0 && !sched {
		// The whole ingest is one round trip: BEGIN, the inserts, COMMIT and the wake-ups.
		return s.pipelineWake(ctx, "ingesting", small, keys)
	}
	return s.txWake(ctx, "ingesting", func(tx pgx.Tx) (*pgx.Batch, []store.WorkKey, error) {
		for _, it := range idem {
			// The unique key serializes concurrent claims: the second waits for the first
			// transaction and then sees its live row (no row affected).
			tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (tenant_id, key, event_id, expires_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (tenant_id, key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at
				WHERE idempotency_keys.expires_at <= $5`,
				it.Event.TenantID, it.IdempotencyKey, it.Event.ID, it.IdempotencyExpiresAt, it.Event.CreatedAt)
			if err != nil {
				return nil, nil, err
			}
			if tag.RowsAffected() == 0 {
				return nil, nil, fmt.Errorf("idempotency key %q is taken: %w", it.IdempotencyKey, store.ErrConflict)
			}
		}
		if sched {
			if err := ingestScheduled(ctx, tx, items); err != nil {
				return nil, nil, err
			}
		}
		for _, c := range large {
			if err := c.uuidsToBytes(); err != nil {
				return nil, nil, err
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
				return nil, nil, err
			}
		}
		return small, keys, nil
	})
}

// unnestMaxRows is the most rows of one table EventInsert writes with an INSERT of arrays;
// above it, COPY is cheaper.
const unnestMaxRows = 256

// copyRows are rows to write into one table.
type copyRows struct {
	table string
	cols  []string
	// types are the columns' PostgreSQL types: text, uuid, jsonb, timestamptz, int or bigint.
	types []string
	rows  [][]any
}

// uuidsToBytes replaces the text of c's uuid columns by the 16 bytes: COPY is binary,
// and pgx encodes a string as a uuid only after failing the binary encoding first.
func (c copyRows) uuidsToBytes() error {
	for j, typ := range c.types {
		if typ != "uuid" {
			continue
		}
		for _, row := range c.rows {
			s, ok := row[j].(string)
			if !ok {
				continue // NULL, or converted by an earlier attempt of the transaction
			}
			u, err := uuid.Parse(s)
			if err != nil {
				return fmt.Errorf("%s.%s: %q is not a UUID: %w", c.table, c.cols[j], s, err)
			}
			row[j] = [16]byte(u)
		}
	}
	return nil
}

// unnestInsert is one INSERT of every row of c, passed as one array per column: a
// statement whose cost does not grow with the number of rows.
func (c copyRows) unnestInsert() (string, []any, error) {
	args := make([]any, len(c.cols))
	params, sel := make([]string, len(c.cols)), make([]string, len(c.cols))
	for j, typ := range c.types {
		switch typ {
		case "text", "uuid", "jsonb":
			col := make([]*string, len(c.rows))
			for i, row := range c.rows {
				switch v := row[j].(type) {
				case nil:
				case string:
					col[i] = &v
				case json.RawMessage:
					if v != nil {
						s := string(v)
						col[i] = &s
					}
				default:
					return "", nil, fmt.Errorf("%s.%s: unexpected %T", c.table, c.cols[j], v)
				}
			}
			args[j], params[j] = col, fmt.Sprintf("$%d::text[]", j+1)
		case "timestamptz":
			col := make([]*time.Time, len(c.rows))
			for i, row := range c.rows {
				switch v := row[j].(type) {
				case nil:
				case time.Time:
					col[i] = &v
				case *time.Time:
					col[i] = v
				default:
					return "", nil, fmt.Errorf("%s.%s: unexpected %T", c.table, c.cols[j], v)
				}
			}
			args[j], params[j] = col, fmt.Sprintf("$%d::timestamptz[]", j+1)
		case "int", "bigint":
			col := make([]*int64, len(c.rows))
			for i, row := range c.rows {
				var n int64
				switch v := row[j].(type) {
				case nil:
					continue
				case int:
					n = int64(v)
				case int32:
					n = int64(v)
				case int64:
					n = v
				default:
					return "", nil, fmt.Errorf("%s.%s: unexpected %T", c.table, c.cols[j], v)
				}
				col[i] = &n
			}
			args[j], params[j] = col, fmt.Sprintf("$%d::bigint[]", j+1)
		default:
			return "", nil, fmt.Errorf("%s.%s: unknown type %s", c.table, c.cols[j], typ)
		}
		sel[j] = fmt.Sprintf("u.c%d::%s", j, typ)
	}
	names := make([]string, len(c.cols))
	for j := range names {
		names[j] = fmt.Sprintf("c%d", j)
	}
	q := `INSERT INTO ` + c.table + ` (` + strings.Join(c.cols, ", ") + `) SELECT ` + strings.Join(sel, ", ") +
		` FROM unnest(` + strings.Join(params, ", ") + `) AS u(` + strings.Join(names, ", ") + `)`
	return q, args, nil
}

// errBadCursor refuses a listing cursor that is not an id: every cursor the API hands out
// is the id of the last item of a page.
var errBadCursor = errors.New("cursor is not an id")

// validCursors reports whether each cursor is empty or an id.
func validCursors(cursors ...string) bool {
	for _, c := range cursors {
		if c != "" && !store.ValidID(c) {
			return false
		}
	}
	return true
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// RunStepName implements store.Store.
func (s *Store) RunStepName(ctx context.Context, p store.RunStepNameParams) (string, error) {
	if !store.ValidID(p.RunID) || p.StepRunID != "" && !store.ValidID(p.StepRunID) {
		return "", store.ErrNotFound
	}
	if p.StepRunID == "" {
		var one int
		err := s.pool.QueryRow(ctx, `SELECT 1 FROM runs WHERE tenant_id = $1 AND id = $2`, p.TenantID, p.RunID).Scan(&one)
		return "", mapErr("getting run", err)
	}
	var step string
	err := s.pool.QueryRow(ctx, `SELECT step FROM step_runs WHERE tenant_id = $1 AND run_id = $2 AND id = $3`, p.TenantID, p.RunID, p.StepRunID).Scan(&step)
	return step, mapErr("getting step-run", err)
}

const eventCols = `id, tenant_id, key, payload, metadata, source, parent_run_id, parent_step_run_id, parent_step, triggers, created_at,
	scope, webhook, dedupe_id, replay_of`

func scanEvent(row pgx.Row) (store.Event, error) {
	var e store.Event
	var prun, pstep, pname, scope, webhook, dedupe, replayOf *string
	var trig []byte
	if err := row.Scan(&e.ID, &e.TenantID, &e.Key, &e.Payload, &e.Metadata, &e.Source, &prun, &pstep, &pname, &trig, &e.CreatedAt,
		&scope, &webhook, &dedupe, &replayOf); err != nil {
		return e, err
	}
	e.ReplayOf = deref(replayOf)
	e.ParentRunID, e.ParentStepRunID, e.ParentStep = deref(prun), deref(pstep), deref(pname)
	e.Scope, e.Webhook, e.DedupeID = deref(scope), deref(webhook), deref(dedupe)
	if err := json.Unmarshal(trig, &e.Triggers); err != nil {
		return e, fmt.Errorf("decoding triggers of event %s: %w", e.ID, err)
	}
	e.CreatedAt = e.CreatedAt.UTC()
	return e, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// EventGet implements store.Store.
func (s *Store) EventGet(ctx context.Context, tenantID, id string) (store.Event, error) {
	if !store.ValidID(id) {
		return store.Event{}, store.ErrNotFound
	}
	e, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventCols+` FROM events WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	return e, mapErr("getting event", err)
}

// where builds a WHERE clause with numbered placeholders.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(w.args))))
}

func (w *where) String() string { return strings.Join(w.conds, " AND ") }

// listEventsSQL is the query of EventList.
func listEventsSQL(tenantID string, f store.EventFilter) (string, []any) {
	w := eventFilter(tenantID, f)
	w.args = append(w.args, f.Limit)
	return fmt.Sprintf(`SELECT `+eventCols+` FROM events WHERE %s ORDER BY id DESC LIMIT $%d`, w, len(w.args)), w.args
}

// EventList implements store.Store.
func (s *Store) EventList(ctx context.Context, tenantID string, f store.EventFilter) ([]store.Event, error) {
	if !validCursors(f.Before, f.After) {
		return nil, fmt.Errorf("listing events: %w", errBadCursor)
	}
	q, args := listEventsSQL(tenantID, f)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, mapErr("listing events", err)
	}
	out, err := collect(rows, scanEvent)
	return out, mapErr("listing events", err)
}

const runCols = `id, tenant_id, workflow_id, workflow_name, version, event_id, status, input, error, created_at, started_at, finished_at`

func scanRun(row pgx.Row) (store.Run, error) {
	var r store.Run
	var event *string
	if err := row.Scan(&r.ID, &r.TenantID, &r.WorkflowID, &r.WorkflowName, &r.Version, &event, &r.Status, &r.Input, &r.Error,
		&r.CreatedAt, &r.StartedAt, &r.FinishedAt); err != nil {
		return r, err
	}
	r.EventID = deref(event)
	r.CreatedAt, r.StartedAt, r.FinishedAt = r.CreatedAt.UTC(), utcPtr(r.StartedAt), utcPtr(r.FinishedAt)
	return r, nil
}

const stepCols = `id, tenant_id, run_id, workflow_name, step, position, parents, pending_parents, status, attempt, max_attempts,
	timeout_ms, retry, lease_id, worker_id, lease_expires_at, deadline_at, output, error, lease_losses, queued_at, started_at, finished_at`

func scanStep(row pgx.Row) (store.StepRun, error) {
	var st store.StepRun
	var parents, retry []byte
	var lease, worker *string
	if err := row.Scan(&st.ID, &st.TenantID, &st.RunID, &st.WorkflowName, &st.Step, &st.Position, &parents, &st.PendingParents,
		&st.Status, &st.Attempt, &st.MaxAttempts, &st.TimeoutMS, &retry, &lease, &worker, &st.LeaseExpiresAt, &st.DeadlineAt,
		&st.Output, &st.Error, &st.LeaseLosses, &st.QueuedAt, &st.StartedAt, &st.FinishedAt); err != nil {
		return st, err
	}
	if err := json.Unmarshal(parents, &st.Parents); err != nil {
		return st, fmt.Errorf("decoding parents of step-run %s: %w", st.ID, err)
	}
	if err := json.Unmarshal(retry, &st.Retry); err != nil {
		return st, fmt.Errorf("decoding retry of step-run %s: %w", st.ID, err)
	}
	st.LeaseID, st.WorkerID = deref(lease), deref(worker)
	st.LeaseExpiresAt, st.DeadlineAt = utcPtr(st.LeaseExpiresAt), utcPtr(st.DeadlineAt)
	st.QueuedAt, st.StartedAt, st.FinishedAt = utcPtr(st.QueuedAt), utcPtr(st.StartedAt), utcPtr(st.FinishedAt)
	return st, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func runSteps(ctx context.Context, q querier, runID string) ([]store.StepRun, error) {
	rows, err := q.Query(ctx, `SELECT `+stepCols+` FROM step_runs WHERE run_id = $1 ORDER BY position`, runID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanStep)
}

// RunGet implements store.Store.
func (s *Store) RunGet(ctx context.Context, tenantID, id string) (store.Run, []store.StepRun, error) {
	if !store.ValidID(id) {
		return store.Run{}, nil, store.ErrNotFound
	}
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runCols+` FROM runs WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	if err != nil {
		return r, nil, mapErr("getting run", err)
	}
	steps, err := runSteps(ctx, s.pool, id)
	return r, steps, mapErr("getting run steps", err)
}

// RunList implements store.Store.
func (s *Store) RunList(ctx context.Context, tenantID string, f store.RunFilter) ([]store.Run, error) {
	if !validCursors(f.Before) {
		return nil, fmt.Errorf("listing runs: %w", errBadCursor)
	}
	if f.EventID != "" && !store.ValidID(f.EventID) {
		return nil, nil // no event has that id
	}
	w := &where{}
	w.add("tenant_id = ?", tenantID)
	if f.Workflow != "" {
		w.add("workflow_name = ?", f.Workflow)
	}
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	if f.EventID != "" {
		w.add("event_id = ?", f.EventID)
	}
	addRunSearchConds(w, tenantID, f)
	if f.Before != "" {
		w.add("id < ?", f.Before)
	}
	w.args = append(w.args, f.Limit)
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT `+runCols+` FROM runs WHERE %s ORDER BY id DESC LIMIT $%d`, w, len(w.args)), w.args...)
	if err != nil {
		return nil, mapErr("listing runs", err)
	}
	out, err := collect(rows, scanRun)
	return out, mapErr("listing runs", err)
}

// OutboxClaim implements store.Outbox. Rows are taken FOR UPDATE SKIP LOCKED, so
// replicas claiming at the same moment split the pending rows instead of waiting.
func (s *Store) OutboxClaim(ctx context.Context, p store.DeliveryClaim) ([]store.OutboxEntry, error) {
	rows, err := s.pool.Query(ctx, `UPDATE herald_outbox o SET claimed_until = $1, attempts = o.attempts + 1 FROM (
		SELECT id FROM herald_outbox WHERE error IS NULL AND (claimed_until IS NULL OR claimed_until <= $2)
			AND `+p.AttemptsCond()+` ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) c
		WHERE o.id = c.id RETURNING o.id, o.tenant, o.key, o.payload, o.metadata, o.created_at, o.attempts`, p.Until, p.Now, p.Limit)
	if err != nil {
		return nil, mapErr("claiming outbox entries", err)
	}
	out, err := collect(rows, func(r pgx.Row) (store.OutboxEntry, error) {
		var e store.OutboxEntry
		err := r.Scan(&e.ID, &e.Tenant, &e.Key, &e.Payload, &e.Metadata, &e.CreatedAt, &e.Attempts)
		return e, err
	})
	if err != nil {
		return nil, mapErr("claiming outbox entries", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// OutboxRelease implements store.Outbox.
func (s *Store) OutboxRelease(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE herald_outbox SET attempts = attempts - 1
		WHERE id = ANY($1) AND error IS NULL AND attempts > 0`, ids)
	return mapErr("releasing outbox entries", err)
}

// OutboxReject implements store.Outbox.
func (s *Store) OutboxReject(ctx context.Context, id, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE herald_outbox SET error = $1 WHERE id = $2`, reason, id)
	return mapErr("rejecting outbox entry", err)
}

// EventGetIdempotent implements store.Store.
func (s *Store) EventGetIdempotent(ctx context.Context, p store.IdempotencyParams) (store.Event, error) {
	// events' ids are uuid, the key table's text (it also names delayed events).
	e, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventCols+` FROM events WHERE tenant_id = $1 AND id =
		(SELECT event_id::uuid FROM idempotency_keys WHERE tenant_id = $4 AND key = $2 AND expires_at > $3)`, p.TenantID, p.Key, p.At, p.TenantID))
	return e, mapErr("getting idempotent event", err)
}
