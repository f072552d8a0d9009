package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/testkit"
)

// TestIngestDoesNotWaitForANotifyingCommit: PostgreSQL serializes the commits of every
// transaction that sent a NOTIFY (a database-wide lock, held through the commit), so an
// ingest that notified inside its own transaction could not commit while another replica's
// notifying commit was under way, flush by flush. EventInsert commits its rows without NOTIFY
// and wakes the queues right after, in a transaction of its own.
//
// A private server with a synchronous standby that never connects holds a notifying commit
// in place: it waits for the standby with the lock held. The store's own sessions commit
// locally. The ingested run must be committed (visible to others) meanwhile; its wake-up
// follows once the other commit ends.
func TestIngestDoesNotWaitForANotifyingCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := pgtest.StartServer(t)
	admin, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, q := range []string{`ALTER SYSTEM SET synchronous_standby_names = 'nobody'`, `SELECT pg_reload_conf()`} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s, tenant, wf := storeWithWorkflow(t, srv.URL()+"&synchronous_commit=local")

	listener, err := pgx.Connect(ctx, srv.URL()+"&synchronous_commit=local")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(ctx)
	if _, err := listener.Exec(ctx, `LISTEN herald_work`); err != nil {
		t.Fatal(err)
	}

	// Another notifying transaction, stuck in its commit with the lock held.
	stuck, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close(ctx)
	stuckPID := stuck.PgConn().PID()
	stuckDone := make(chan error, 1)
	go func() {
		_, err := stuck.Exec(ctx, `BEGIN; CREATE TABLE marker (x int); NOTIFY other; COMMIT`)
		stuckDone <- err
	}()
	testkit.Poll(t, "the notifying commit to wait for the standby (wait event)", func() (string, bool) {
		var event string
		if err := admin.QueryRow(ctx, `SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = $1`, stuckPID).Scan(&event); err != nil {
			t.Fatal(err)
		}
		return event, event == "SyncRep"
	})

	now := time.Now().UTC()
	run := store.IngestRun{Run: store.Run{ID: uuid.NewString(), TenantID: tenant.ID, WorkflowID: wf.ID, WorkflowName: "orders",
		Version: wf.Version, Status: store.RunQueued, Input: []byte(`{}`), CreatedAt: now}}
	run.Steps = []store.StepRun{{ID: uuid.NewString(), TenantID: tenant.ID, RunID: run.Run.ID, WorkflowName: "orders", Step: "s",
		Status: store.StepQueued, MaxAttempts: 3, TimeoutMS: 60000, QueuedAt: &now}}
	ingested := make(chan error, 1)
	go func() { ingested <- s.EventInsert(ctx, []store.IngestItem{{Runs: []store.IngestRun{run}}}) }()
	testkit.Eventually(t, "the ingest to commit while another transaction's notifying commit was under way", func() bool {
		_, _, err := s.RunGet(ctx, tenant.ID, run.Run.ID)
		return err == nil
	})

	// End the other commit (it is committed locally; only the wait for the standby ends).
	if _, err := admin.Exec(ctx, `SELECT pg_cancel_backend($1)`, stuckPID); err != nil {
		t.Fatal(err)
	}
	if err := <-stuckDone; err != nil {
		t.Fatalf("the other transaction: %v", err)
	}
	if err := <-ingested; err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		n, err := listener.WaitForNotification(wctx)
		if err != nil {
			t.Fatalf("no wake-up for the ingested step: %v", err)
		}
		if n.Channel == "herald_work" && n.Payload == tenant.ID+"\x1forders" {
			break
		}
	}
}
