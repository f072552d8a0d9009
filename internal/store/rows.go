package store

// Scanner is a row being read: what database/sql's *Row and *Rows and pgx's Row and Rows
// have in common.
type Scanner interface {
	Scan(dest ...any) error
}

// Rows is a result being read, row after row.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// CollectRows reads every row of rows with scan and returns them, or the first error
// (nil when there is no row). It does not close rows: each store closes its own kind
// (database/sql's Close returns an error, pgx's does not).
func CollectRows[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// CollectCounts reads rows of (key, count) into a map; it does not close rows.
func CollectCounts(rows Rows) (map[string]int, error) {
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}
