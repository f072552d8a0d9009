package postgres

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/store"
	"github.com/jackc/pgx/v5"
)

// msExpr is a timestamptz column as unix milliseconds.
func msExpr(col string) string { return "(extract(epoch from " + col + ") * 1000)::bigint" }

// StatsWorkflows implements store.Store.
func (s *Store) StatsWorkflows(ctx context.Context, tenantID string, since time.Time) ([]store.WorkflowStats, error) {
	var b store.WorkflowStatsBuilder
	rows, err := s.pool.Query(ctx, `SELECT workflow_name, status, COUNT(*) FROM runs WHERE tenant_id = $1 AND created_at >= $2
		GROUP BY workflow_name, status`, tenantID, since)
	if err != nil {
		return nil, mapErr("counting runs", err)
	}
	err = b.ReadCounts(rows)
	rows.Close()
	if err != nil {
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
	if err := b.ReadDurations(rows); err != nil {
		return nil, mapErr("run duration percentiles", err)
	}
	return b.Result(), nil
}

// StatsActivity implements store.Store.
func (s *Store) StatsActivity(ctx context.Context, p store.ActivityParams) (store.Activity, error) {
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
		return collect(rows, func(r pgx.Row) (store.BucketCount, error) { return store.ScanBucketCount(r) })
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

// StatsQueueDepths implements store.Store.
func (s *Store) StatsQueueDepths(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant_id, COUNT(*) FROM step_runs WHERE status = 'queued' GROUP BY tenant_id`)
	if err != nil {
		return nil, mapErr("counting queued steps", err)
	}
	defer rows.Close()
	out, err := store.CollectCounts(rows)
	return out, mapErr("counting queued steps", err)
}
