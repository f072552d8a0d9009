package sqlite

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// StatsWorkflows implements store.Store.
func (s *Store) StatsWorkflows(ctx context.Context, tenantID string, since time.Time) ([]store.WorkflowStats, error) {
	var b store.WorkflowStatsBuilder
	rows, err := s.r.QueryContext(ctx, `SELECT workflow_name, status, COUNT(*) FROM runs WHERE tenant_id = ? AND created_at >= ?
		GROUP BY workflow_name, status`, tenantID, ms64(since))
	if err != nil {
		return nil, mapErr("counting runs", err)
	}
	err = b.ReadCounts(rows)
	rows.Close()
	if err != nil {
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
	if err := b.ReadDurations(rows); err != nil {
		return nil, mapErr("run duration percentiles", err)
	}
	return b.Result(), nil
}

// StatsActivity implements store.Store.
func (s *Store) StatsActivity(ctx context.Context, p store.ActivityParams) (store.Activity, error) {
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
		return collect(rows, store.ScanBucketCount)
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

// StatsQueueDepths implements store.Store.
func (s *Store) StatsQueueDepths(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT tenant_id, COUNT(*) FROM step_queue GROUP BY tenant_id`)
	if err != nil {
		return nil, mapErr("counting queued steps", err)
	}
	defer rows.Close()
	out, err := store.CollectCounts(rows)
	return out, mapErr("counting queued steps", err)
}
