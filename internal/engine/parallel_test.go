package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/testkit"
)

// TestSlowCommitDoesNotHoldOthersOnPostgres holds one push's ingest transaction on a row
// lock (its idempotency key is being inserted by an open transaction elsewhere): on
// PostgreSQL the engine commits in parallel, so another push is acknowledged meanwhile;
// the held push commits once the lock is released.
func TestSlowCommitDoesNotHoldOthersOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openPostgres(t)
	eng, tenant := startEngine(t, st, engine.Config{})
	if eng.Config().CommitLoops < 2 {
		t.Fatalf("commit loops on PostgreSQL = %d, want at least 2", eng.Config().CommitLoops)
	}
	holder, err := st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, `INSERT INTO idempotency_keys (tenant_id, key, event_id, expires_at) VALUES ($1, 'held', 'x', now() + interval '1 hour')`, tenant); err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() {
		_, err := eng.Push(ctx, tenant, []engine.EventInput{{Key: "k", Payload: []byte(`{}`), IdempotencyKey: "held"}}, false)
		held <- err
	}()
	// Wait until the held push's transaction waits for the lock.
	testkit.Eventually(t, "the held push to wait for the lock", func() bool {
		var n int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	})
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := eng.Push(pctx, tenant, []engine.EventInput{{Key: "k", Payload: []byte(`{}`)}}, false); err != nil {
		t.Fatalf("push while another commit is held: %v", err)
	}
	testkit.Quiet(t, "held push returned before its lock was released", held)
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := testkit.Receive(t, "the held push to commit after the lock was released", held); err != nil {
		t.Fatalf("held push after the lock was released: %v", err)
	}
}
