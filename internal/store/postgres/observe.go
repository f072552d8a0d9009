package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

// eventFilter builds the WHERE clause of an event listing.
func eventFilter(tenantID string, f store.EventFilter) *where {
	w := &where{}
	w.add("tenant_id = ?", tenantID)
	addKeyConds(w, f.Key, f.KeyPrefix)
	addMetadataConds(w, "metadata", f.Metadata)
	if f.Workflow != "" {
		addWorkflowEventCond(w, tenantID, f.Workflow)
	}
	if !f.Since.IsZero() {
		w.add("created_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		// Ids are UUIDv7 of (about) their creation: the id bound lets a scan along the id
		// start at the window's end.
		w.add("created_at < ?", f.Until)
		w.add("id < ?", store.TimeID(f.Until.Add(time.Second)))
	}
	if f.Before != "" {
		w.add("id < ?", f.Before)
	}
	if f.After != "" {
		w.add("id > ?", f.After)
	}
	return w
}

// addKeyConds selects events with exactly key and with a key starting with prefix ("":
// any). Keys compare in byte order (COLLATE "C") so that the index on
// (tenant_id, key COLLATE "C", id) serves exact keys and prefixes alike, whatever the
// database's collation: a prefix is the range [prefix, prefixEnd).
func addKeyConds(w *where, key, prefix string) {
	if key != "" {
		w.add(`key COLLATE "C" = ?`, key)
	}
	if prefix != "" {
		if end, ok := prefixEnd(prefix); ok {
			w.add(`key COLLATE "C" >= ?`, prefix)
			w.add(`key COLLATE "C" < ?`, end)
		} else {
			w.add("starts_with(key, ?)", prefix)
		}
	}
}

// prefixEnd returns the least string greater, in byte order, than every string starting
// with prefix, when prefix ends with an ASCII byte below 0x7f (every event key does).
func prefixEnd(prefix string) (string, bool) {
	last := prefix[len(prefix)-1]
	if last >= 0x7f {
		return "", false
	}
	return prefix[:len(prefix)-1] + string(rune(last+1)), true
}

// msExpr is a timestamptz column as unix milliseconds.
func msExpr(col string) string { return "(extract(epoch from " + col + ") * 1000)::bigint" }

// WorkflowStats implements store.Store.
func (s *Store) WorkflowStats(ctx context.Context, tenantID string, since time.Time) ([]store.WorkflowStats, error) {
	var b store.WorkflowStatsBuilder
	rows, err := s.pool.Query(ctx, `SELECT workflow_name, status, COUNT(*) FROM runs WHERE tenant_id = $1 AND created_at >= $2
		GROUP BY workflow_name, status`, tenantID, since)
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
	rows, err = s.pool.Query(ctx, `SELECT workflow_name, n, rn, d FROM (
			SELECT workflow_name, `+msExpr("finished_at - started_at")+` AS d,
				ROW_NUMBER() OVER (PARTITION BY workflow_name ORDER BY finished_at - started_at) AS rn,
				COUNT(*) OVER (PARTITION BY workflow_name) AS n
			FROM runs WHERE tenant_id = $1 AND created_at >= $2 AND status IN ('succeeded', 'failed') AND started_at IS NOT NULL
		) x WHERE `+store.PercentileRanks(50, 95), tenantID, since)
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
	bucket := p.Bucket.Milliseconds()
	if bucket <= 0 {
		bucket = 1
	}
	bucketExpr := "(" + msExpr("created_at") + " - $1) / $2"
	counts := func(table, label string) ([]store.BucketCount, error) {
		rows, err := s.pool.Query(ctx, `SELECT `+bucketExpr+` AS b, `+label+`, COUNT(*) FROM `+table+`
			WHERE tenant_id = $3 AND created_at >= $4 AND created_at < $5 GROUP BY b, `+label+` ORDER BY b, `+label,
			p.Since.UnixMilli(), bucket, p.TenantID, p.Since, p.Until)
		if err != nil {
			return nil, err
		}
		return collect(rows, func(r pgx.Row) (store.BucketCount, error) {
			var c store.BucketCount
			err := r.Scan(&c.Bucket, &c.Label, &c.Count)
			return c, err
		})
	}
	latency := func() ([]store.LatencyBucket, error) {
		rows, err := s.pool.Query(ctx, `SELECT b, n, rn, lat FROM (
				SELECT `+bucketExpr+` AS b, `+msExpr("started_at - created_at")+` AS lat,
					ROW_NUMBER() OVER (PARTITION BY `+bucketExpr+` ORDER BY started_at - created_at) AS rn,
					COUNT(*) OVER (PARTITION BY `+bucketExpr+`) AS n
				FROM runs WHERE tenant_id = $3 AND created_at >= $4 AND created_at < $5 AND started_at IS NOT NULL
			) x WHERE `+store.PercentileRanks(50, 95, 99)+` ORDER BY b, rn`, p.Since.UnixMilli(), bucket, p.TenantID, p.Since, p.Until)
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
	rows, err := s.pool.Query(ctx, `SELECT tenant_id, COUNT(*) FROM step_runs WHERE status = 'queued' GROUP BY tenant_id`)
	if err != nil {
		return nil, mapErr("counting queued steps", err)
	}
	defer rows.Close()
	out, err := store.CollectCounts(rows)
	return out, mapErr("counting queued steps", err)
}

// Prune implements store.Store. Each kind is deleted in its own short transaction, oldest
// first along the primary key (ids are time-ordered UUIDv7, so the scan is bounded by the
// cutoff's id plus a second of slack, and checked against the creation time). Rows are
// taken with FOR UPDATE SKIP LOCKED, so replicas pruning at once split the work.
func (s *Store) Prune(ctx context.Context, p store.PruneParams) (store.PruneResult, error) {
	var res store.PruneResult
	idBound := store.TimeID(p.Before.Add(time.Second))
	steps := []struct {
		what string
		sql  string
		args []any
		n    *int
	}{
		// Events are keyed by (tenant_id, id): each tenant's oldest, in at most $3 all told.
		{"pruning events", `DELETE FROM events WHERE (tenant_id, id) IN
			(SELECT e.tenant_id, e.id FROM tenants t CROSS JOIN LATERAL
				(SELECT tenant_id, id FROM events WHERE tenant_id = t.id::uuid AND id < $1 AND created_at < $2
					ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) e
			LIMIT $3)`,
			[]any{idBound, p.Before, p.Limit}, &res.Events},
		{"pruning runs", `WITH r AS (SELECT id FROM runs WHERE id < $1 AND created_at < $2
				AND status IN ('succeeded', 'failed', 'cancelled') ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED),
			s AS (DELETE FROM step_runs WHERE run_id IN (SELECT id FROM r))
			DELETE FROM runs WHERE id IN (SELECT id FROM r)`, []any{idBound, p.Before, p.Limit}, &res.Runs},
		{"pruning webhook deliveries", `DELETE FROM webhook_deliveries WHERE id IN
			(SELECT id FROM webhook_deliveries WHERE id < $1 AND received_at < $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)`,
			[]any{idBound, p.Before, p.Limit}, &res.Deliveries},
		{"pruning sessions", `DELETE FROM dashboard_sessions WHERE hash IN
			(SELECT hash FROM dashboard_sessions WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
			[]any{p.Now, p.Limit}, &res.Sessions},
		{"pruning idempotency keys", `DELETE FROM idempotency_keys WHERE (tenant_id, key) IN
			(SELECT tenant_id, key FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
			[]any{p.Now, p.Limit}, &res.IdempotencyKeys},
	}
	for _, st := range steps {
		tag, err := s.pool.Exec(ctx, st.sql, st.args...)
		if err != nil {
			return res, mapErr(st.what, err)
		}
		*st.n = int(tag.RowsAffected())
	}
	return res, nil
}

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO dashboard_sessions (hash, tenant_id, token_id, csrf, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, se.Hash, se.TenantID, se.TokenID, se.CSRF, se.CreatedAt, se.ExpiresAt)
	return mapErr("creating session", err)
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, hash []byte, now time.Time) (store.Session, error) {
	var se store.Session
	err := s.pool.QueryRow(ctx, `SELECT s.hash, s.tenant_id, t.name, s.token_id, k.role, s.csrf, s.created_at, s.expires_at
		FROM dashboard_sessions s JOIN api_tokens k ON k.id = s.token_id JOIN tenants t ON t.id = s.tenant_id
		WHERE s.hash = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL AND k.tenant_id = s.tenant_id`, hash, now).
		Scan(&se.Hash, &se.TenantID, &se.TenantName, &se.TokenID, &se.Role, &se.CSRF, &se.CreatedAt, &se.ExpiresAt)
	if err != nil {
		return se, mapErr("getting session", err)
	}
	se.CreatedAt, se.ExpiresAt = se.CreatedAt.UTC(), se.ExpiresAt.UTC()
	return se, nil
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM dashboard_sessions WHERE hash = $1`, hash)
	return mapErr("deleting session", err)
}
