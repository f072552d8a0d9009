package store

import (
	"strconv"
	"strings"
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
