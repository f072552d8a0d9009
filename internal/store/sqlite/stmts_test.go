package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestInsertRowsCachesFewShapes inserts every batch size from 1 to 600 rows: each batch
// stores exactly its rows, the writer's statements are prepared once and reused (the
// cache holds them after the first transactions), and the INSERTs come in at most one
// shape per power of two up to maxInsertRows, so the cache stays small whatever the
// batch sizes.
func TestInsertRowsCachesFewShapes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "h.db"), Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.write(ctx, "creating", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE shapes (batch INTEGER NOT NULL, i INTEGER NOT NULL, PRIMARY KEY (batch, i))`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	total := 0
	for n := 1; n <= 600; n++ {
		rows := make([][]any, n)
		for i := range rows {
			rows[i] = []any{n, i}
		}
		if err := s.write(ctx, "inserting", func(tx *wtx) error {
			return insertRows(ctx, tx, "shapes", []string{"batch", "i"}, rows)
		}); err != nil {
			t.Fatalf("inserting %d rows: %v", n, err)
		}
		total += n
	}
	var got, bad int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE i >= batch) FROM shapes`).Scan(&got, &bad); err != nil {
		t.Fatal(err)
	}
	if got != total || bad != 0 {
		t.Fatalf("the table holds %d rows (%d out of their batch), want %d", got, bad, total)
	}
	shapes := 0
	s.stmts.mu.Lock()
	for q := range s.stmts.stmts {
		if strings.HasPrefix(q, "INSERT INTO shapes ") {
			shapes++
		}
	}
	s.stmts.mu.Unlock()
	if want := 9; shapes != want { // 1, 2, 4, ..., 256 rows
		t.Errorf("the cache holds %d INSERT shapes for the table, want %d", shapes, want)
	}
	// Statements whose width follows a batch run once and stay out of the cache.
	before := len(s.stmts.stmts)
	for n := 1; n <= 40; n++ {
		if err := s.write(ctx, "deleting", func(tx *wtx) error {
			args := []any{}
			for i := range n {
				args = append(args, i)
			}
			_, err := tx.ExecOnce(ctx, `DELETE FROM shapes WHERE batch = 600 AND i IN (`+placeholders(n)+`)`, args...)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if after := len(s.stmts.stmts); after != before {
		t.Errorf("ExecOnce statements went into the cache: %d cached, then %d", before, after)
	}
	total -= 40
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM shapes`).Scan(&got); err != nil || got != total {
		t.Fatalf("%d rows after deleting 40, want %d (%v)", got, total, err)
	}
	// A cached statement still sees a change of the schema (SQLite prepares it again).
	if err := s.write(ctx, "altering", func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `ALTER TABLE shapes ADD COLUMN note TEXT NOT NULL DEFAULT 'x'`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.write(ctx, "inserting", func(tx *wtx) error {
		return insertRows(ctx, tx, "shapes", []string{"batch", "i"}, [][]any{{1000, 0}})
	}); err != nil {
		t.Fatalf("inserting after the schema changed: %v", err)
	}
	var note string
	if err := s.r.QueryRowContext(ctx, `SELECT note FROM shapes WHERE batch = 1000`).Scan(&note); err != nil || note != "x" {
		t.Fatalf("the row inserted after the change reads note %q (%v)", note, err)
	}
}
