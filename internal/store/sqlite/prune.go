package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// Prune implements store.Store. Each kind is deleted in its own short write transaction,
// oldest first, walking the primary key: ids are time-ordered (UUIDv7), so the scan is
// bounded by the id of the cutoff (plus a second of slack) and checked against
// created_at.
func (s *Store) Prune(ctx context.Context, p store.PruneParams) (store.PruneResult, error) {
	var res store.PruneResult
	before, idBound := ms64(p.Before), store.TimeID(p.Before.Add(time.Second))
	deleted := func(r sql.Result) int {
		n, _ := r.RowsAffected()
		return int(n)
	}
	err := s.write(ctx, "pruning events", func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM event_metadata WHERE event_id IN
			(SELECT id FROM events WHERE id < ? AND created_at < ? ORDER BY id LIMIT ?)`, idBound, before, p.Limit); err != nil {
			return err
		}
		r, err := tx.ExecContext(ctx, `DELETE FROM events WHERE id IN
			(SELECT id FROM events WHERE id < ? AND created_at < ? ORDER BY id LIMIT ?)`, idBound, before, p.Limit)
		if err == nil {
			res.Events = deleted(r)
		}
		return err
	})
	if err != nil {
		return res, err
	}
	err = s.write(ctx, "pruning runs", func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM runs WHERE id < ? AND created_at < ?
			AND status IN ('succeeded', 'failed', 'cancelled') ORDER BY id LIMIT ?`, idBound, before, p.Limit)
		if err != nil {
			return err
		}
		ids, err := collect(rows, func(r store.Scanner) (any, error) {
			var id string
			err := r.Scan(&id)
			return id, err
		})
		if err != nil || len(ids) == 0 {
			return err
		}
		// Their width varies with each batch: run once, not cached (see ExecOnce).
		if _, err := tx.ExecOnce(ctx, `DELETE FROM step_runs WHERE run_id IN (`+placeholders(len(ids))+`)`, ids...); err != nil {
			return err
		}
		r, err := tx.ExecOnce(ctx, `DELETE FROM runs WHERE id IN (`+placeholders(len(ids))+`)`, ids...)
		if err == nil {
			res.Runs = deleted(r)
		}
		return err
	})
	if err != nil {
		return res, err
	}
	err = s.write(ctx, "pruning webhook deliveries", func(tx *wtx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE id IN
			(SELECT id FROM webhook_deliveries WHERE id < ? AND received_at < ? ORDER BY id LIMIT ?)`, idBound, before, p.Limit)
		if err == nil {
			res.Deliveries = deleted(r)
		}
		return err
	})
	if err != nil {
		return res, err
	}
	err = s.write(ctx, "pruning sessions", func(tx *wtx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE hash IN
			(SELECT hash FROM dashboard_sessions WHERE expires_at <= ? LIMIT ?)`, ms64(p.Now), p.Limit)
		if err == nil {
			res.Sessions = deleted(r)
		}
		return err
	})
	if err != nil {
		return res, err
	}
	err = s.write(ctx, "pruning idempotency keys", func(tx *wtx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE rowid IN
			(SELECT rowid FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)`, ms64(p.Now), p.Limit)
		if err == nil {
			res.IdempotencyKeys = deleted(r)
		}
		return err
	})
	return res, err
}
