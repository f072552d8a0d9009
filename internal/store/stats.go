package store

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file holds what both stores use to compute statistics: percentile ranks chosen in
// SQL, and the rows of percentile queries turned into results.

// PercentileRanks is an SQL condition (the same in both dialects) selecting, from a query
// numbering rows per group (rn of n, in order of the value), the rows at the nearest
// ranks (NearestRank) of the percentiles ps.
func PercentileRanks(ps ...int) string {
	var conds []string
	for _, p := range ps {
		conds = append(conds, "rn = (n * "+strconv.Itoa(p)+" + 99) / 100")
	}
	return strings.Join(conds, " OR ")
}

// AddLatency records v, the value at rank rn of n in latency bucket b, when that rank is
// the 50th, 95th or 99th percentile (nearest rank). Rows must arrive ordered by bucket.
func AddLatency(out []LatencyBucket, b, n, rn int, v time.Duration) []LatencyBucket {
	if len(out) == 0 || out[len(out)-1].Bucket != b {
		out = append(out, LatencyBucket{Bucket: b, Count: n})
	}
	lb := &out[len(out)-1]
	if rn == NearestRank(50, n) {
		lb.P50 = v
	}
	if rn == NearestRank(95, n) {
		lb.P95 = v
	}
	if rn == NearestRank(99, n) {
		lb.P99 = v
	}
	return out
}

// WorkflowStatsBuilder makes the answer of Store.StatsWorkflows from a store's rows: the
// counts of runs by workflow and status, and the rows of the duration percentiles query.
// The zero value is ready to use.
type WorkflowStatsBuilder struct {
	stats map[string]*WorkflowStats
}

func (b *WorkflowStatsBuilder) get(workflow string) *WorkflowStats {
	if b.stats == nil {
		b.stats = map[string]*WorkflowStats{}
	}
	st := b.stats[workflow]
	if st == nil {
		st = &WorkflowStats{Workflow: workflow}
		b.stats[workflow] = st
	}
	return st
}

// ReadCounts reads rows of (workflow, status, count) into b (Count); it does not close
// rows.
func (b *WorkflowStatsBuilder) ReadCounts(rows Rows) error {
	for rows.Next() {
		var name, status string
		var n int
		if err := rows.Scan(&name, &status, &n); err != nil {
			return err
		}
		b.Count(name, status, n)
	}
	return rows.Err()
}

// ReadDurations reads rows of the duration percentiles query — (workflow, runs, rank,
// duration in milliseconds) — into b (Duration); it does not close rows.
func (b *WorkflowStatsBuilder) ReadDurations(rows Rows) error {
	for rows.Next() {
		var name string
		var n, rn int
		var d int64
		if err := rows.Scan(&name, &n, &rn, &d); err != nil {
			return err
		}
		b.Duration(name, n, rn, time.Duration(d)*time.Millisecond)
	}
	return rows.Err()
}

// Count adds n runs of workflow in status (queued and running ones are unfinished).
func (b *WorkflowStatsBuilder) Count(workflow, status string, n int) {
	st := b.get(workflow)
	switch status {
	case RunSucceeded:
		st.Succeeded += n
	case RunFailed:
		st.Failed += n
	case RunCancelled:
		st.Cancelled += n
	default:
		st.Unfinished += n
	}
}

// Duration records d, the run duration at rank rn of the n of workflow, when that rank is
// the 50th or 95th percentile (nearest rank).
func (b *WorkflowStatsBuilder) Duration(workflow string, n, rn int, d time.Duration) {
	st := b.get(workflow)
	if rn == NearestRank(50, n) {
		st.P50 = d
	}
	if rn == NearestRank(95, n) {
		st.P95 = d
	}
}

// Result returns the statistics of every workflow seen, by workflow name.
func (b *WorkflowStatsBuilder) Result() []WorkflowStats {
	out := make([]WorkflowStats, 0, len(b.stats))
	for _, st := range b.stats {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Workflow < out[j].Workflow })
	return out
}

// CollectLatency reads the rows of a start latency percentiles query, (bucket, n, rn,
// latency in milliseconds) ordered by bucket, into latency buckets (AddLatency); it does
// not close rows.
func CollectLatency(rows Rows) ([]LatencyBucket, error) {
	var out []LatencyBucket
	for rows.Next() {
		var b, n, rn int
		var lat int64
		if err := rows.Scan(&b, &n, &rn, &lat); err != nil {
			return nil, err
		}
		out = AddLatency(out, b, n, rn, time.Duration(lat)*time.Millisecond)
	}
	return out, rows.Err()
}

// WorkflowStats summarizes a workflow's runs over a window.
type WorkflowStats struct {
	Workflow   string
	Succeeded  int
	Failed     int
	Cancelled  int
	Unfinished int // queued or running
	// P50 and P95 are nearest-rank percentiles of the durations (finished − started) of the
	// window's succeeded and failed runs that started; zero when there is none.
	P50, P95 time.Duration
}

// ActivityParams select an activity window.
type ActivityParams struct {
	TenantID string
	// Since and Until bound the window [Since, Until) by creation time.
	Since, Until time.Time
	// Bucket is the width of each bucket; bucket i starts at Since + i×Bucket.
	Bucket time.Duration
}

// Activity is a tenant's activity over a window, in buckets. Buckets with nothing in them
// are absent.
type Activity struct {
	// Events counts events created per bucket, labelled by source.
	Events []BucketCount
	// Runs counts runs created per bucket, labelled by their current status.
	Runs []BucketCount
	// StartLatency gives, per bucket of run creation, percentiles of the delay from a
	// run's creation (its event's push) to the start of its first step.
	StartLatency []LatencyBucket
}

// GatherActivity runs the three aggregates of an Activity at once (they read different
// rows, so a store's read pool serves them in parallel): counts is called for
// ("events", "source") and ("runs", "status"). On failure it returns the first error
// with what failed ("counting events", "counting runs", "start latency percentiles").
func GatherActivity(counts func(table, label string) ([]BucketCount, error), latency func() ([]LatencyBucket, error)) (a Activity, what string, err error) {
	var errs [3]error
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); a.Events, errs[0] = counts("events", "source") }()
	go func() { defer wg.Done(); a.Runs, errs[1] = counts("runs", "status") }()
	go func() { defer wg.Done(); a.StartLatency, errs[2] = latency() }()
	wg.Wait()
	for i, what := range []string{"counting events", "counting runs", "start latency percentiles"} {
		if errs[i] != nil {
			return Activity{}, what, errs[i]
		}
	}
	return a, "", nil
}

// BucketCount is a count of one label in one bucket.
type BucketCount struct {
	Bucket int // index from ActivityParams.Since
	Label  string
	Count  int
}

// ScanBucketCount reads one row of (bucket, label, count).
func ScanBucketCount(r Scanner) (BucketCount, error) {
	var c BucketCount
	err := r.Scan(&c.Bucket, &c.Label, &c.Count)
	return c, err
}

// LatencyBucket holds nearest-rank percentiles of the latencies in one bucket.
type LatencyBucket struct {
	Bucket        int
	Count         int
	P50, P95, P99 time.Duration
}

// NearestRank returns the 1-based rank of the p-th percentile (0 < p ≤ 100) among n
// sorted values: ⌈p×n/100⌉. Stores compute percentiles with it.
func NearestRank(p, n int) int {
	return (p*n + 99) / 100
}
