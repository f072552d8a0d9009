package store

import "testing"

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
