package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

const scheduledCols = `id, tenant_id, key, payload, metadata, source, parent_run_id, parent_step_run_id, parent_step, scope,
	idempotency_key, deliver_at, created_at, status, error, ended_at, attempts`

func scanScheduled(row store.Scanner) (store.ScheduledEvent, error) {
	var e store.ScheduledEvent
	var payload string
	var meta, prun, pstep, pname, scope, idem sql.NullString
	var deliver, created int64
	var ended sql.NullInt64
	if err := row.Scan(&e.ID, &e.TenantID, &e.Key, &payload, &meta, &e.Source, &prun, &pstep, &pname, &scope, &idem,
		&deliver, &created, &e.Status, &e.Error, &ended, &e.Attempts); err != nil {
		return e, err
	}
	e.Payload = json.RawMessage(payload)
	if meta.Valid {
		e.Metadata = json.RawMessage(meta.String)
	}
	e.ParentRunID, e.ParentStepRunID, e.ParentStep = prun.String, pstep.String, pname.String
	e.Scope, e.IdempotencyKey = scope.String, idem.String
	e.DeliverAt, e.CreatedAt, e.EndedAt = fromMS(deliver), fromMS(created), ptrMS(ended)
	return e, nil
}

// ingestScheduled does EventInsert's part for delayed events, inside its transaction: it
// deletes the scheduled rows that items deliver (ErrConflict if one is no longer
// scheduled) and inserts the events that items delay.
func ingestScheduled(ctx context.Context, tx *wtx, items []store.IngestItem) error {
	for _, it := range items {
		if it.ScheduledID != "" {
			res, err := tx.ExecContext(ctx, `DELETE FROM scheduled_events WHERE id = ? AND status = 'scheduled'`, it.ScheduledID)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return fmt.Errorf("scheduled event %s is no longer scheduled: %w", it.ScheduledID, store.ErrConflict)
			}
		}
		if e := it.Event; e != nil && !it.DeliverAt.IsZero() {
			var meta any
			if len(e.Metadata) > 0 {
				meta = string(e.Metadata)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO scheduled_events (id, tenant_id, key, payload, metadata, source,
				parent_run_id, parent_step_run_id, parent_step, scope, idempotency_key, deliver_at, created_at, status)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'scheduled')`,
				e.ID, e.TenantID, e.Key, string(e.Payload), meta, e.Source, nullStr(e.ParentRunID), nullStr(e.ParentStepRunID),
				nullStr(e.ParentStep), nullStr(e.Scope), nullStr(it.IdempotencyKey), ms64(it.DeliverAt), ms64(e.CreatedAt)); err != nil {
				return err
			}
		}
	}
	return nil
}

// ScheduledClaim implements store.ScheduleStore.
func (s *Store) ScheduledClaim(ctx context.Context, p store.DeliveryClaim) ([]store.ScheduledEvent, error) {
	var out []store.ScheduledEvent
	err := s.write(ctx, "claiming scheduled events", func(tx *wtx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE scheduled_events SET claimed_until = ?, attempts = attempts + 1 WHERE id IN (
			SELECT id FROM scheduled_events WHERE status = 'scheduled' AND deliver_at <= ?
				AND (claimed_until IS NULL OR claimed_until <= ?) AND `+p.AttemptsCond()+` ORDER BY deliver_at, id LIMIT ?)
			RETURNING `+scheduledCols, ms64(p.Until), ms64(p.Now), ms64(p.Now), p.Limit)
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
	list, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("releasing scheduled events: %w", err)
	}
	return s.write(ctx, "releasing scheduled events", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE scheduled_events SET attempts = attempts - 1
			WHERE id IN (SELECT value FROM json_each(?)) AND status = 'scheduled' AND attempts > 0`, string(list))
		return err
	})
}

// ScheduledNext implements store.ScheduleStore.
func (s *Store) ScheduledNext(ctx context.Context, after time.Time) (time.Time, bool, error) {
	var next sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT MIN(deliver_at) FROM scheduled_events WHERE status = 'scheduled' AND deliver_at > ?`,
		ms64(after)).Scan(&next)
	if err != nil {
		return time.Time{}, false, mapErr("finding the next scheduled event", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return fromMS(next.Int64), true, nil
}

// ScheduledGet implements store.ScheduleStore.
func (s *Store) ScheduledGet(ctx context.Context, tenantID, id string) (store.ScheduledEvent, error) {
	e, err := scanScheduled(s.r.QueryRowContext(ctx, `SELECT `+scheduledCols+` FROM scheduled_events WHERE tenant_id = ? AND id = ?`, tenantID, id))
	return e, mapErr("getting scheduled event", err)
}

// ScheduledGetIdempotent implements store.ScheduleStore.
func (s *Store) ScheduledGetIdempotent(ctx context.Context, p store.IdempotencyParams) (store.ScheduledEvent, error) {
	e, err := scanScheduled(s.r.QueryRowContext(ctx, `SELECT `+scheduledCols+` FROM scheduled_events WHERE tenant_id = ? AND id =
		(SELECT event_id FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND expires_at > ?)`, p.TenantID, p.TenantID, p.Key, ms64(p.At)))
	return e, mapErr("getting idempotent scheduled event", err)
}

// ScheduledList implements store.ScheduleStore.
func (s *Store) ScheduledList(ctx context.Context, p store.ScheduledListParams) ([]store.ScheduledEvent, error) {
	if p.Filter.Workflow != "" || p.Filter.After != "" {
		return nil, errors.New("listing scheduled events: workflow and after filters do not apply")
	}
	where, args := eventFilter(p.TenantID, p.Filter, false)
	where, args = append(where, "status = ?"), append(args, p.Status)
	args = append(args, p.Filter.Limit)
	rows, err := s.r.QueryContext(ctx, `SELECT `+scheduledCols+` FROM scheduled_events WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, mapErr("listing scheduled events", err)
	}
	out, err := collect(rows, scanScheduled)
	return out, mapErr("listing scheduled events", err)
}

// ScheduledCancel implements store.ScheduleStore.
func (s *Store) ScheduledCancel(ctx context.Context, p store.ScheduledCancelParams) (store.ScheduledEvent, error) {
	var e store.ScheduledEvent
	err := s.write(ctx, "cancelling scheduled event", func(tx *wtx) error {
		var err error
		e, err = scanScheduled(tx.QueryRowContext(ctx, `UPDATE scheduled_events SET status = 'cancelled', ended_at = ?, claimed_until = NULL
			WHERE tenant_id = ? AND id = ? AND status = 'scheduled' RETURNING `+scheduledCols, ms64(p.At), p.TenantID, p.ID))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var status string
		err = tx.QueryRowContext(ctx, `SELECT status FROM scheduled_events WHERE tenant_id = ? AND id = ?`, p.TenantID, p.ID).Scan(&status)
		if err == nil {
			return store.ScheduledCancelConflict(p.ID, status)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM events WHERE tenant_id = ? AND id = ?`, p.TenantID, p.ID).Scan(&one)
		if err == nil {
			return store.ScheduledDelivered(p.ID)
		}
		return err
	})
	return e, err
}

// ScheduledFail implements store.ScheduleStore.
func (s *Store) ScheduledFail(ctx context.Context, p store.ScheduledFailParams) error {
	return s.write(ctx, "failing scheduled event", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE scheduled_events SET status = 'failed', error = ?, ended_at = ?, claimed_until = NULL
			WHERE id = ? AND status = 'scheduled'`, p.Reason, ms64(p.At), p.ID)
		return err
	})
}

// ScheduledPrune implements store.ScheduleStore.
func (s *Store) ScheduledPrune(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int64
	err := s.write(ctx, "pruning scheduled events", func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM scheduled_events WHERE id IN (SELECT id FROM scheduled_events
			WHERE status <> 'scheduled' AND ended_at < ? AND deliver_at < ? LIMIT ?)`, ms64(before), ms64(before), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
