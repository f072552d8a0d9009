package postgres

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

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
