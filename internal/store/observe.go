package store

import (
	"sync"
	"time"
)

// This file holds the row types of the dashboard and observability methods: workflow
// statistics, activity series, retention and dashboard sessions.

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

// PruneParams are the arguments of Prune.
type PruneParams struct {
	// Before: rows created before it are deleted.
	Before time.Time
	// Now: sessions and idempotency keys expired at it are deleted.
	Now time.Time
	// Limit caps the rows of each kind deleted by one call (one transaction each).
	Limit int
}

// PruneResult counts what Prune deleted.
type PruneResult struct {
	Events     int
	Runs       int // with their step-runs
	Deliveries int
	Sessions   int
	// IdempotencyKeys counts expired idempotency keys.
	IdempotencyKeys int
}

// Total is the number of rows Prune deleted (step-runs aside).
func (r PruneResult) Total() int {
	return r.Events + r.Runs + r.Deliveries + r.Sessions + r.IdempotencyKeys
}

// Session is a signed-in dashboard session. Only the SHA-256 of its id is stored; it acts
// as its token's principal for as long as both are valid.
type Session struct {
	Hash       []byte
	TenantID   string
	TenantName string
	TokenID    string
	// Role is the role of the session's token.
	Role Role
	// CSRF is the session's anti-forgery token, required by every form it posts.
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TimeID returns the smallest UUIDv7 string of the millisecond of t. Every id of a row
// created by the engine at t or later sorts at or above it, so stores use it to bound
// scans by the primary key.
func TimeID(t time.Time) string {
	ms := t.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	const hex = "0123456789abcdef"
	var b [12]byte
	for i := 11; i >= 0; i-- {
		b[i] = hex[ms&0xf]
		ms >>= 4
	}
	return string(b[:8]) + "-" + string(b[8:12]) + "-0000-0000-000000000000"
}

// ValidID reports whether s has the form of the ids Herald makes (NewID, TimeID): a UUID
// in lowercase hyphenated text. The PostgreSQL store keys events, runs and step-runs by
// uuid columns, so there a string of any other form names none of them.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
