package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

const scheduledCols = `id, tenant_id, key, payload, metadata, source, parent_run_id, parent_step_run_id, parent_step, scope,
	idempotency_key, deliver_at, created_at, status, error, ended_at, attempts`

func scanScheduled(row pgx.Row) (store.ScheduledEvent, error) {
	var e store.ScheduledEvent
	var prun, pstep, pname, scope, idem *string
	if err := row.Scan(&e.ID, &e.TenantID, &e.Key, &e.Payload, &e.Metadata, &e.Source, &prun, &pstep, &pname, &scope, &idem,
		&e.DeliverAt, &e.CreatedAt, &e.Status, &e.Error, &e.EndedAt, &e.Attempts); err != nil {
		return e, err
	}
	e.ParentRunID, e.ParentStepRunID, e.ParentStep = deref(prun), deref(pstep), deref(pname)
	e.Scope, e.IdempotencyKey = deref(scope), deref(idem)
	e.DeliverAt, e.CreatedAt, e.EndedAt = e.DeliverAt.UTC(), e.CreatedAt.UTC(), utcPtr(e.EndedAt)
	return e, nil
}

// ingestScheduled does EventInsert's part for delayed events, inside its transaction: it
// deletes the scheduled rows that items deliver (ErrConflict if one is no longer
// scheduled: cancelled, or delivered by another replica — a concurrent cancel or delivery
// holds the row lock, and this statement re-checks the status once it is released) and
// inserts the events that items delay.
func ingestScheduled(ctx context.Context, tx pgx.Tx, items []store.IngestItem) error {
	for _, it := range items {
		if it.ScheduledID != "" {
			tag, err := tx.Exec(ctx, `DELETE FROM scheduled_events WHERE id = $1 AND status = 'scheduled'`, it.ScheduledID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("scheduled event %s is no longer scheduled: %w", it.ScheduledID, store.ErrConflict)
			}
		}
		if e := it.Event; e != nil && !it.DeliverAt.IsZero() {
			var meta any
			if len(e.Metadata) > 0 {
				meta = e.Metadata
			}
			if _, err := tx.Exec(ctx, `INSERT INTO scheduled_events (id, tenant_id, key, payload, metadata, source,
				parent_run_id, parent_step_run_id, parent_step, scope, idempotency_key, deliver_at, created_at, status)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'scheduled')`,
				e.ID, e.TenantID, e.Key, e.Payload, meta, e.Source, nullStr(e.ParentRunID), nullStr(e.ParentStepRunID),
				nullStr(e.ParentStep), nullStr(e.Scope), nullStr(it.IdempotencyKey), it.DeliverAt, e.CreatedAt); err != nil {
				return err
			}
		}
	}
	return nil
}

// ScheduledClaim implements store.ScheduleStore. Rows are taken FOR UPDATE SKIP LOCKED,
// so replicas claiming at the same moment split the due rows instead of waiting.
func (s *Store) ScheduledClaim(ctx context.Context, p store.DeliveryClaim) ([]store.ScheduledEvent, error) {
	var out []store.ScheduledEvent
	err := s.tx(ctx, "claiming scheduled events", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE scheduled_events s SET claimed_until = $1, attempts = s.attempts + 1 FROM (
			SELECT id FROM scheduled_events WHERE status = 'scheduled' AND deliver_at <= $2
				AND (claimed_until IS NULL OR claimed_until <= $2) AND `+p.AttemptsCond()+`
				ORDER BY deliver_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) c
			WHERE s.id = c.id RETURNING `+prefixCols("s.", scheduledCols), p.Until, p.Now, p.Limit)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanScheduled)
		return err
	})
	if err != nil {
		return nil, err
	}
	store.SortScheduled(out)
	return out, nil
}

// ScheduledRelease implements store.ScheduleStore.
func (s *Store) ScheduledRelease(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE scheduled_events SET attempts = attempts - 1
		WHERE id = ANY($1) AND status = 'scheduled' AND attempts > 0`, ids)
	return mapErr("releasing scheduled events", err)
}

// prefixCols qualifies every column of a comma-separated list with prefix.
func prefixCols(prefix, cols string) string {
	out := ""
	start := true
	for _, c := range cols {
		switch {
		case c == ',':
			out += ","
			start = true
		case c == ' ' || c == '\n' || c == '\t':
			out += string(c)
		default:
			if start {
				out += prefix
				start = false
			}
			out += string(c)
		}
	}
	return out
}

// ScheduledNext implements store.ScheduleStore.
func (s *Store) ScheduledNext(ctx context.Context, after time.Time) (time.Time, bool, error) {
	var next *time.Time
	err := s.pool.QueryRow(ctx, `SELECT MIN(deliver_at) FROM scheduled_events WHERE status = 'scheduled' AND deliver_at > $1`, after).Scan(&next)
	if err != nil {
		return time.Time{}, false, mapErr("finding the next scheduled event", err)
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return next.UTC(), true, nil
}

// ScheduledGet implements store.ScheduleStore.
func (s *Store) ScheduledGet(ctx context.Context, tenantID, id string) (store.ScheduledEvent, error) {
	e, err := scanScheduled(s.pool.QueryRow(ctx, `SELECT `+scheduledCols+` FROM scheduled_events WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	return e, mapErr("getting scheduled event", err)
}

// ScheduledGetIdempotent implements store.ScheduleStore.
func (s *Store) ScheduledGetIdempotent(ctx context.Context, p store.IdempotencyParams) (store.ScheduledEvent, error) {
	e, err := scanScheduled(s.pool.QueryRow(ctx, `SELECT `+scheduledCols+` FROM scheduled_events WHERE tenant_id = $1 AND id =
		(SELECT event_id FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND expires_at > $3)`, p.TenantID, p.Key, p.At))
	return e, mapErr("getting idempotent scheduled event", err)
}

// ScheduledList implements store.ScheduleStore.
func (s *Store) ScheduledList(ctx context.Context, p store.ScheduledListParams) ([]store.ScheduledEvent, error) {
	if p.Filter.Workflow != "" || p.Filter.After != "" {
		return nil, errors.New("listing scheduled events: workflow and after filters do not apply")
	}
	w := eventFilter(p.TenantID, p.Filter)
	w.add("status = ?", p.Status)
	w.args = append(w.args, p.Filter.Limit)
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT `+scheduledCols+` FROM scheduled_events WHERE %s ORDER BY id DESC LIMIT $%d`,
		w, len(w.args)), w.args...)
	if err != nil {
		return nil, mapErr("listing scheduled events", err)
	}
	out, err := collect(rows, scanScheduled)
	return out, mapErr("listing scheduled events", err)
}

// ScheduledCancel implements store.ScheduleStore. A delivery racing with the cancel holds
// the row lock; the UPDATE waits for it and then finds the row gone (delivered).
func (s *Store) ScheduledCancel(ctx context.Context, p store.ScheduledCancelParams) (store.ScheduledEvent, error) {
	var e store.ScheduledEvent
	if !store.ValidID(p.ID) {
		// Ids are UUIDs: another string names no event (and the events table's uuid column
		// would refuse it with an error, not an empty result).
		return e, store.ErrNotFound
	}
	err := s.tx(ctx, "cancelling scheduled event", func(tx pgx.Tx) error {
		var err error
		e, err = scanScheduled(tx.QueryRow(ctx, `UPDATE scheduled_events SET status = 'cancelled', ended_at = $1, claimed_until = NULL
			WHERE tenant_id = $2 AND id = $3 AND status = 'scheduled' RETURNING `+scheduledCols, p.At, p.TenantID, p.ID))
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var status string
		err = tx.QueryRow(ctx, `SELECT status FROM scheduled_events WHERE tenant_id = $1 AND id = $2`, p.TenantID, p.ID).Scan(&status)
		if err == nil {
			return store.ScheduledCancelConflict(p.ID, status)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM events WHERE tenant_id = $1 AND id = $2`, p.TenantID, p.ID).Scan(&one)
		if err == nil {
			return store.ScheduledDelivered(p.ID)
		}
		return err
	})
	return e, err
}

// ScheduledFail implements store.ScheduleStore.
func (s *Store) ScheduledFail(ctx context.Context, p store.ScheduledFailParams) error {
	_, err := s.pool.Exec(ctx, `UPDATE scheduled_events SET status = 'failed', error = $1, ended_at = $2, claimed_until = NULL
		WHERE id = $3 AND status = 'scheduled'`, p.Reason, p.At, p.ID)
	return mapErr("failing scheduled event", err)
}

// ScheduledPrune implements store.ScheduleStore.
func (s *Store) ScheduledPrune(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM scheduled_events WHERE id IN (SELECT id FROM scheduled_events
		WHERE status <> 'scheduled' AND ended_at < $1 AND deliver_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, before, limit)
	if err != nil {
		return 0, mapErr("pruning scheduled events", err)
	}
	return int(tag.RowsAffected()), nil
}

// hasScheduled reports whether items delay or deliver a scheduled event: EventInsert then
// needs a transaction that reads the rows its DELETE affected.
func hasScheduled(items []store.IngestItem) bool {
	for _, it := range items {
		if it.ScheduledID != "" || !it.DeliverAt.IsZero() {
			return true
		}
	}
	return false
}
