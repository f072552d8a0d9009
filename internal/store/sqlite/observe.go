package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// eventFilter returns the WHERE conditions and arguments of an event listing. Metadata
// filters use the event_metadata index when indexed is set (the events table), else the
// JSON column metadata (delayed events, not indexed).
func eventFilter(tenantID string, f store.EventFilter, indexed bool) ([]string, []any) {
	where, args := []string{"tenant_id = ?"}, []any{tenantID}
	if f.Key != "" {
		where, args = append(where, "key = ?"), append(args, f.Key)
	}
	if f.KeyPrefix != "" {
		// Keys are ASCII and compared bytewise: a prefix is a range of the key index.
		where, args = append(where, "key >= ? AND key < ?"), append(args, f.KeyPrefix, f.KeyPrefix+"\xff")
	}
	mconds, margs := metadataConds("metadata", f.Metadata)
	if indexed {
		mconds, margs = indexedMetadataConds("id", tenantID, f.Metadata)
	}
	where, args = append(where, mconds...), append(args, margs...)
	if f.Workflow != "" {
		where, args = append(where, workflowEventCond), append(args, tenantID, f.Workflow)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, ms64(f.Since))
	}
	if !f.Until.IsZero() {
		// Ids are UUIDv7 of (about) their creation: the id bound lets a scan along the id
		// start at the window's end.
		where, args = append(where, "created_at < ?", "id < ?"), append(args, ms64(f.Until), store.TimeID(f.Until.Add(time.Second)))
	}
	if f.Before != "" {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	if f.After != "" {
		where, args = append(where, "id > ?"), append(args, f.After)
	}
	return where, args
}

// WorkflowStats implements store.Store.
func (s *Store) WorkflowStats(ctx context.Context, tenantID string, since time.Time) ([]store.WorkflowStats, error) {
	var b store.WorkflowStatsBuilder
	rows, err := s.r.QueryContext(ctx, `SELECT workflow_name, status, COUNT(*) FROM runs WHERE tenant_id = ? AND created_at >= ?
		GROUP BY workflow_name, status`, tenantID, ms64(since))
	if err != nil {
		return nil, mapErr("counting runs", err)
	}
	for rows.Next() {
		var name, status string
		var n int
		if err := rows.Scan(&name, &status, &n); err != nil {
			rows.Close()
			return nil, mapErr("counting runs", err)
		}
		b.Count(name, status, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, mapErr("counting runs", err)
	}
	rows, err = s.r.QueryContext(ctx, `SELECT workflow_name, n, rn, d FROM (
			SELECT workflow_name, finished_at - started_at AS d,
				ROW_NUMBER() OVER (PARTITION BY workflow_name ORDER BY finished_at - started_at) AS rn,
				COUNT(*) OVER (PARTITION BY workflow_name) AS n
			FROM runs WHERE tenant_id = ? AND created_at >= ? AND status IN ('succeeded', 'failed') AND started_at IS NOT NULL
		) WHERE `+store.PercentileRanks(50, 95), tenantID, ms64(since))
	if err != nil {
		return nil, mapErr("run duration percentiles", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n, rn int
		var d int64
		if err := rows.Scan(&name, &n, &rn, &d); err != nil {
			return nil, mapErr("run duration percentiles", err)
		}
		b.Duration(name, n, rn, time.Duration(d)*time.Millisecond)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("run duration percentiles", err)
	}
	return b.Result(), nil
}

// Activity implements store.Store.
func (s *Store) Activity(ctx context.Context, p store.ActivityParams) (store.Activity, error) {
	var a store.Activity
	since, until, bucket := ms64(p.Since), ms64(p.Until), p.Bucket.Milliseconds()
	if bucket <= 0 {
		bucket = 1
	}
	counts := func(table, label string) ([]store.BucketCount, error) {
		rows, err := s.r.QueryContext(ctx, `SELECT (created_at - ?1) / ?2 AS b, `+label+`, COUNT(*) FROM `+table+`
			WHERE tenant_id = ?3 AND created_at >= ?1 AND created_at < ?4 GROUP BY b, `+label+` ORDER BY b, `+label,
			since, bucket, p.TenantID, until)
		if err != nil {
			return nil, err
		}
		return collect(rows, func(r store.Scanner) (store.BucketCount, error) {
			var c store.BucketCount
			err := r.Scan(&c.Bucket, &c.Label, &c.Count)
			return c, err
		})
	}
	latency := func() ([]store.LatencyBucket, error) {
		rows, err := s.r.QueryContext(ctx, `SELECT b, n, rn, lat FROM (
				SELECT (created_at - ?1) / ?2 AS b, started_at - created_at AS lat,
					ROW_NUMBER() OVER (PARTITION BY (created_at - ?1) / ?2 ORDER BY started_at - created_at) AS rn,
					COUNT(*) OVER (PARTITION BY (created_at - ?1) / ?2) AS n
				FROM runs WHERE tenant_id = ?3 AND created_at >= ?1 AND created_at < ?4 AND started_at IS NOT NULL
			) WHERE `+store.PercentileRanks(50, 95, 99)+` ORDER BY b, rn`, since, bucket, p.TenantID, until)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		return store.CollectLatency(rows)
	}
	a, what, err := store.GatherActivity(counts, latency)
	return a, mapErr(what, err)
}

// QueueDepths implements store.Store.
func (s *Store) QueueDepths(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT tenant_id, COUNT(*) FROM step_queue GROUP BY tenant_id`)
	if err != nil {
		return nil, mapErr("counting queued steps", err)
	}
	defer rows.Close()
	out, err := store.CollectCounts(rows)
	return out, mapErr("counting queued steps", err)
}

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

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	return s.write(ctx, "creating session", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO dashboard_sessions (hash, tenant_id, token_id, csrf, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, se.Hash, se.TenantID, se.TokenID, se.CSRF, ms64(se.CreatedAt), ms64(se.ExpiresAt))
		return err
	})
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, hash []byte, now time.Time) (store.Session, error) {
	var se store.Session
	var created, expires int64
	err := s.r.QueryRowContext(ctx, `SELECT s.hash, s.tenant_id, t.name, s.token_id, k.role, s.csrf, s.created_at, s.expires_at
		FROM dashboard_sessions s JOIN api_tokens k ON k.id = s.token_id JOIN tenants t ON t.id = s.tenant_id
		WHERE s.hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL AND k.tenant_id = s.tenant_id`, hash, ms64(now)).
		Scan(&se.Hash, &se.TenantID, &se.TenantName, &se.TokenID, &se.Role, &se.CSRF, &created, &expires)
	if err != nil {
		return se, mapErr("getting session", err)
	}
	se.CreatedAt, se.ExpiresAt = fromMS(created), fromMS(expires)
	return se, nil
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	return s.write(ctx, "deleting session", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE hash = ?`, hash)
		return err
	})
}
