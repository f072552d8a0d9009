package store

import (
	"reflect"
	"testing"
	"time"
)

// TestPercentileRanksMatchNearestRank: the SQL condition selects, for every group size,
// exactly the ranks NearestRank gives.
func TestPercentileRanksMatchNearestRank(t *testing.T) {
	if got, want := PercentileRanks(50, 95), "rn = (n * 50 + 99) / 100 OR rn = (n * 95 + 99) / 100"; got != want {
		t.Fatalf("PercentileRanks(50, 95) = %q, want %q", got, want)
	}
	for n := 1; n <= 300; n++ {
		for _, p := range []int{50, 95, 99} {
			// The SQL expression, evaluated as SQL's integer division does for positives.
			if sql := (n*p + 99) / 100; sql != NearestRank(p, n) {
				t.Fatalf("rank of p%d among %d: SQL %d, NearestRank %d", p, n, sql, NearestRank(p, n))
			}
		}
	}
}

// TestWorkflowStatsBuilder: counts go to their outcome (queued and running runs are
// unfinished), durations at the 50th and 95th percentile ranks are kept, and workflows
// come back by name.
func TestWorkflowStatsBuilder(t *testing.T) {
	var b WorkflowStatsBuilder
	if got := b.Result(); len(got) != 0 {
		t.Fatalf("empty builder = %+v", got)
	}
	b.Count("refunds", RunFailed, 1)
	b.Count("orders", RunSucceeded, 18)
	b.Count("orders", RunFailed, 2)
	b.Count("orders", RunCancelled, 3)
	b.Count("orders", RunQueued, 4)
	b.Count("orders", RunRunning, 5)
	for rn := 1; rn <= 20; rn++ { // ranks 10 (p50) and 19 (p95) of 20
		b.Duration("orders", 20, rn, time.Duration(rn)*time.Second)
	}
	b.Duration("refunds", 1, 1, time.Minute)
	want := []WorkflowStats{
		{Workflow: "orders", Succeeded: 18, Failed: 2, Cancelled: 3, Unfinished: 9, P50: 10 * time.Second, P95: 19 * time.Second},
		{Workflow: "refunds", Failed: 1, P50: time.Minute, P95: time.Minute},
	}
	if got := b.Result(); !reflect.DeepEqual(got, want) {
		t.Errorf("Result = %+v, want %+v", got, want)
	}
}
