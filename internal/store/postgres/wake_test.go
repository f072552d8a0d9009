package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
)

// conn opens one connection to a new database holding table t (id int primary key) with
// the row 1.
func conn(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	if _, err := c.Exec(ctx, `CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCommitAndWakeSendsABatchAgain: a write that failed (a deadlock, say) is retried with
// the same batch. The retry must commit: it used to be sent with the prepared statements
// of the first attempt, which the failure had invalidated on the connection ("prepared
// statement does not exist"), and with a COMMIT and a wake-up more for every attempt.
func TestCommitAndWakeSendsABatchAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := conn(t)
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO t VALUES ($1)`, 1)
	if err := commitAndWake(ctx, c, true, b, nil); err == nil {
		t.Fatal("the first attempt inserted a duplicate key")
	}
	if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `DELETE FROM t`); err != nil {
		t.Fatal(err)
	}
	if err := commitAndWake(ctx, c, true, b, nil); err != nil {
		t.Fatalf("the same batch sent again: %v", err)
	}
	if b.Len() != 1 {
		t.Fatalf("the batch holds %d statements after two sends, want 1", b.Len())
	}
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows (%v), want the one committed", n, err)
	}
}

// TestCommitAndWakeReportsARolledBackTransaction: COMMIT of a transaction that had failed
// rolls it back without an error; that is not a commit.
func TestCommitAndWakeReportsARolledBackTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := conn(t)
	if _, err := c.Exec(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `INSERT INTO t VALUES (1)`); err == nil {
		t.Fatal("inserted a duplicate key")
	}
	if err := commitAndWake(ctx, c, false, &pgx.Batch{}, nil); !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Fatalf("commit of a failed transaction: %v, want ErrTxCommitRollback", err)
	}
}
