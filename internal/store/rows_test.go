package store

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// sliceRows is a result held in memory: each row is its column values.
type sliceRows struct {
	rows [][]any
	i    int
	err  error
}

func (r *sliceRows) Next() bool { r.i++; return r.i <= len(r.rows) }

func (r *sliceRows) Err() error { return r.err }

func (r *sliceRows) Scan(dest ...any) error {
	row := r.rows[r.i-1]
	if len(dest) != len(row) {
		return fmt.Errorf("%d columns, %d destinations", len(row), len(dest))
	}
	for i, v := range row {
		reflect.ValueOf(dest[i]).Elem().Set(reflect.ValueOf(v))
	}
	return nil
}

// TestCollectRows: every row in order, nil for none, and the first error, of a scan or
// of the result.
func TestCollectRows(t *testing.T) {
	scanName := func(r Scanner) (string, error) {
		var s string
		err := r.Scan(&s)
		return s, err
	}
	got, err := CollectRows(&sliceRows{rows: [][]any{{"a"}, {"b"}}}, scanName)
	if err != nil || !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("CollectRows = %v, %v; want [a b]", got, err)
	}
	if got, err := CollectRows(&sliceRows{}, scanName); err != nil || got != nil {
		t.Errorf("CollectRows(no rows) = %#v, %v; want nil", got, err)
	}
	if got, err := CollectRows(&sliceRows{rows: [][]any{{"a"}, {"b", "c"}}}, scanName); err == nil || got != nil {
		t.Errorf("CollectRows(a row that does not scan) = %v, %v; want the error", got, err)
	}
	broken := errors.New("connection lost")
	if _, err := CollectRows(&sliceRows{rows: [][]any{{"a"}}, err: broken}, scanName); !errors.Is(err, broken) {
		t.Errorf("CollectRows(a failed result) = %v, want %v", err, broken)
	}
	counts, err := CollectCounts(&sliceRows{rows: [][]any{{"t1", 3}, {"t2", 1}}})
	if err != nil || !reflect.DeepEqual(counts, map[string]int{"t1": 3, "t2": 1}) {
		t.Errorf("CollectCounts = %v, %v", counts, err)
	}
}

// TestCollectLatency: ranks of each bucket's percentiles become its P50, P95 and P99.
func TestCollectLatency(t *testing.T) {
	rows := &sliceRows{rows: [][]any{
		{0, 1, 1, int64(7)},                                                       // one latency: every percentile
		{2, 20, 10, int64(100)}, {2, 20, 19, int64(190)}, {2, 20, 20, int64(200)}, // ranks 10, 19, 20 of 20
	}}
	got, err := CollectLatency(rows)
	ms := time.Millisecond
	want := []LatencyBucket{{Bucket: 0, Count: 1, P50: 7 * ms, P95: 7 * ms, P99: 7 * ms}, {Bucket: 2, Count: 20, P50: 100 * ms, P95: 190 * ms, P99: 200 * ms}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("CollectLatency = %+v, %v; want %+v", got, err, want)
	}
}
