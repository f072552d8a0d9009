package store

import (
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migration is one numbered schema change, from a file named NNNN_name.sql.
type Migration struct {
	Version int
	SQL     string
}

// LoadMigrations reads the migrations in dir of fsys, in version order.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: the name must start with its number", e.Name())
		}
		b, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("two migrations are numbered %d", out[i].Version)
		}
	}
	return out, nil
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
