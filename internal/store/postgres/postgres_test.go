package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/storetest"
	"github.com/heraldhq/herald/internal/testkit"
)

func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, pgtest.NewDatabase(t)) })
}

// TestConcurrentStartersMigrateOnce starts several stores on one new database at once: the
// advisory lock makes exactly one of them apply each migration.
func TestConcurrentStartersMigrateOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	stores := make([]*postgres.Store, 6)
	for i := range stores {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(context.Background(), postgres.Config{URL: url, MaxConns: 2})
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("starter %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var n, max int
	if err := stores[0].Pool().QueryRow(context.Background(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != postgres.LatestVersion() || max != postgres.LatestVersion() {
		t.Fatalf("schema_migrations has %d rows up to %d, want %d", n, max, postgres.LatestVersion())
	}
}

func TestSchemaTooNewRefusesToStart(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := open(t, url)
	if _, err := s.Pool().Exec(context.Background(), `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, postgres.LatestVersion()+1); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("open = %v, want ErrSchemaTooNew", err)
	}
}

func TestBadConfigurationFailsWithOneClearLine(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"unreachable":   "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2",
		"no such db":    "postgres://postgres@127.0.0.1:5432/herald_no_such_database_xyz",
		"no such user":  "postgres://herald_no_such_user_xyz@127.0.0.1:5432/postgres",
		"malformed url": "postgres://[::1",
	}
	pgtest.NewDatabase(t) // skips (or fails in CI) when no server is configured
	for name, url := range cases {
		_, err := postgres.Open(context.Background(), postgres.Config{URL: url})
		if err == nil {
			t.Fatalf("%s: opened", name)
		}
		msg := err.Error()
		if len(msg) > 300 || containsNewline(msg) {
			t.Fatalf("%s: error is not one short line: %q", name, msg)
		}
		t.Logf("%s: %s", name, msg)
	}
}

func containsNewline(s string) bool {
	for _, c := range s {
		if c == '\n' {
			return true
		}
	}
	return false
}

// TestFilterChangesLockTheWorkflowFirst: every workflow change locks the workflow's row
// before the change mark's row. A filter change that took them the other way round
// deadlocked with a toggle or a new version of the same workflow (each waiting for the
// row the other held), stalling every workflow change until PostgreSQL broke it. While
// another transaction holds the change mark, a filter create and a filter delete must be
// seen waiting for it with the workflow's row already theirs.
func TestFilterChangesLockTheWorkflowFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, tenant, wf := storeWithWorkflow(t, pgtest.NewDatabase(t))
	f := store.Filter{ID: uuid.NewString(), TenantID: tenant.ID, Workflow: "orders", Scope: "eu", CreatedAt: time.Now()}
	changes := map[string]func() error{
		"CreateFilter": func() error { _, err := s.FilterCreate(ctx, f); return err },
		"DeleteFilter": func() error {
			return s.FilterDelete(ctx, store.FilterRef{TenantID: tenant.ID, Workflow: "orders", ID: f.ID})
		},
	}
	for _, name := range []string{"CreateFilter", "DeleteFilter"} {
		holder, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := holder.Exec(ctx, `UPDATE workflow_changes SET mark = mark WHERE id = 1`); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- changes[name]() }()
		waitForLockWait(t, s, "workflow_changes")
		_, err = holder.Exec(ctx, `SELECT 1 FROM workflows WHERE id = $1 FOR NO KEY UPDATE NOWAIT`, wf.ID)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "55P03" {
			t.Errorf("%s waits for the change mark without holding the workflow's row (locking it: %v)", name, err)
		}
		if err := holder.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// waitForLockWait waits until a session of the store's database waits for a lock in a
// statement mentioning table.
func waitForLockWait(t *testing.T, s *postgres.Store, table string) {
	t.Helper()
	testkit.Eventually(t, "a statement on "+table+" to wait for a lock", func() bool {
		var waiting int
		if err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'`, table).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		return waiting > 0
	})
}

// TestExpiryDoesNotOverrideAHeartbeatInFlight: the sweeper finds a lease expired while a
// heartbeat extending it is about to commit. The sweeper must see the heartbeat (it waits
// for it) and leave the step with its worker; it used to requeue the step over the
// heartbeat, which had answered the worker that it kept the lease, so the step ran twice.
func TestExpiryDoesNotOverrideAHeartbeatInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, tenant, wf := storeWithWorkflow(t, pgtest.NewDatabase(t))
	base := time.Now().UTC().Truncate(time.Millisecond)
	run := store.IngestRun{Run: store.Run{ID: uuid.NewString(), TenantID: tenant.ID, WorkflowID: wf.ID, WorkflowName: "orders",
		Version: wf.Version, Status: store.RunQueued, Input: []byte(`{}`), CreatedAt: base}}
	run.Steps = []store.StepRun{{ID: uuid.NewString(), TenantID: tenant.ID, RunID: run.Run.ID, WorkflowName: "orders", Step: "s",
		Status: store.StepQueued, MaxAttempts: 3, TimeoutMS: 600000, QueuedAt: &base}}
	if err := s.EventInsert(ctx, []store.IngestItem{{Runs: []store.IngestRun{run}}}); err != nil {
		t.Fatal(err)
	}
	worker := store.Worker{ID: uuid.NewString(), TenantID: tenant.ID, Name: "w", Workflows: []string{"orders"}, Slots: 1, CreatedAt: base, LastHeartbeatAt: base}
	if err := s.WorkerRegister(ctx, worker); err != nil {
		t.Fatal(err)
	}
	as, err := s.StepClaim(ctx, store.ClaimParams{TenantID: tenant.ID, WorkerID: worker.ID, Workflows: []string{"orders"}, Max: 1, Now: base,
		LeaseFor: 10 * time.Second, NewLeaseID: uuid.NewString})
	if err != nil || len(as) != 1 {
		t.Fatalf("claimed %d steps (%v), want 1", len(as), err)
	}
	// The heartbeat's write, not committed yet.
	hb, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	extended := base.Add(time.Minute)
	if _, err := hb.Exec(ctx, `UPDATE step_runs SET lease_expires_at = $1 WHERE id = $2`, extended, as[0].StepRunID); err != nil {
		t.Fatal(err)
	}
	type result struct {
		outs []store.FinishOutcome
		err  error
	}
	done := make(chan result, 1)
	go func() {
		outs, err := s.StepExpireLeases(ctx, base.Add(20*time.Second), 10)
		done <- result{outs, err}
	}()
	waitForLockWait(t, s, "step_runs")
	if err := hb.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if len(res.outs) != 0 {
		t.Errorf("ExpireLeases expired %+v over a heartbeat that extended the lease", res.outs)
	}
	_, steps, err := s.RunGet(ctx, tenant.ID, run.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st := steps[0]; st.Status != store.StepRunning || st.LeaseExpiresAt == nil || !st.LeaseExpiresAt.Equal(extended) {
		t.Errorf("the step is %s with lease until %v, want running until %s", st.Status, st.LeaseExpiresAt, extended)
	}
}

// TestExpirySkipsARunAnotherTransactionHolds: a lease sweep on one replica does not wait
// for a run another transaction holds (a completion, or another replica's sweep): it
// leaves that run's expired steps for the next sweep, which expires them.
func TestExpirySkipsARunAnotherTransactionHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, tenant, wf := storeWithWorkflow(t, pgtest.NewDatabase(t))
	base := time.Now().UTC().Truncate(time.Millisecond)
	run := store.IngestRun{Run: store.Run{ID: uuid.NewString(), TenantID: tenant.ID, WorkflowID: wf.ID, WorkflowName: "orders",
		Version: wf.Version, Status: store.RunQueued, Input: []byte(`{}`), CreatedAt: base}}
	run.Steps = []store.StepRun{{ID: uuid.NewString(), TenantID: tenant.ID, RunID: run.Run.ID, WorkflowName: "orders", Step: "s",
		Status: store.StepQueued, MaxAttempts: 3, TimeoutMS: 600000, QueuedAt: &base}}
	if err := s.EventInsert(ctx, []store.IngestItem{{Runs: []store.IngestRun{run}}}); err != nil {
		t.Fatal(err)
	}
	worker := store.Worker{ID: uuid.NewString(), TenantID: tenant.ID, Name: "w", Workflows: []string{"orders"}, Slots: 1, CreatedAt: base, LastHeartbeatAt: base}
	if err := s.WorkerRegister(ctx, worker); err != nil {
		t.Fatal(err)
	}
	if as, err := s.StepClaim(ctx, store.ClaimParams{TenantID: tenant.ID, WorkerID: worker.ID, Workflows: []string{"orders"}, Max: 1, Now: base,
		LeaseFor: 10 * time.Second, NewLeaseID: uuid.NewString}); err != nil || len(as) != 1 {
		t.Fatalf("claimed %d steps (%v), want 1", len(as), err)
	}
	holder, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, `SELECT 1 FROM runs WHERE id = $1 FOR UPDATE`, run.Run.ID); err != nil {
		t.Fatal(err)
	}
	// Waiting for the holder would run into this bound (it never lets go while the
	// sweep runs).
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	outs, err := s.StepExpireLeases(wctx, base.Add(20*time.Second), 10)
	if err != nil || len(outs) != 0 {
		t.Fatalf("ExpireLeases while another transaction holds the run = %+v, %v; want nothing, at once", outs, err)
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	outs, err = s.StepExpireLeases(ctx, base.Add(20*time.Second), 10)
	if err != nil || len(outs) != 1 || outs[0].StepRunID != run.Steps[0].ID || outs[0].RunStatus != store.RunRunning {
		t.Fatalf("ExpireLeases once the run is free = %+v, %v; want its step requeued", outs, err)
	}
	_, steps, err := s.RunGet(ctx, tenant.ID, run.Run.ID)
	if err != nil || steps[0].Status != store.StepQueued || steps[0].LeaseLosses != 1 {
		t.Fatalf("the step after the sweep = %+v (%v), want queued after one lease loss", steps, err)
	}
}

// storeWithWorkflow opens a store on the database url (migrating it) and creates a tenant
// and its workflow "orders" (one step, "s").
func storeWithWorkflow(t *testing.T, url string) (*postgres.Store, store.Tenant, store.Workflow) {
	t.Helper()
	ctx := context.Background()
	s := open(t, url)
	tenant := store.Tenant{ID: uuid.NewString(), Name: "acme", CreatedAt: time.Now()}
	if err := s.TenantCreate(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	def := store.WorkflowDef{Name: "orders", Triggers: store.PlainTriggers("order.paid"), Steps: []store.StepDef{{Name: "s"}}}
	wf, _, err := s.WorkflowPut(ctx, store.PutWorkflowParams{TenantID: tenant.ID, NewID: uuid.NewString(), Def: def, Hash: "h1", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return s, tenant, wf
}

// TestOutboxClaimsCountAttempts: claiming outbox entries counts an attempt on each, in the
// claim; claimed entries are skipped until their claim ends; entries claimed before are
// claimed apart from new ones (Retried); a release gives an attempt back; a refused entry
// is claimed no more.
func TestOutboxClaimsCountAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t, pgtest.NewDatabase(t))
	base := time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)
	var ids []string
	for i := 0; i < 3; i++ {
		id := uuid.Must(uuid.NewV7()).String()
		if _, err := s.Pool().Exec(ctx, `INSERT INTO herald_outbox (id, tenant, key, created_at) VALUES ($1, 'default', 'orders.paid', $2)`,
			id, base.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	claim := func(now time.Time, limit int, retried bool, want ...string) {
		t.Helper()
		got, err := s.OutboxClaim(ctx, store.DeliveryClaim{Now: now, Until: now.Add(10 * time.Second), Limit: limit, Retried: retried})
		if err != nil {
			t.Fatal(err)
		}
		list := []string{}
		for _, e := range got {
			list = append(list, fmt.Sprintf("%s:%d", e.ID, e.Attempts))
		}
		if fmt.Sprint(list) != fmt.Sprint(want) {
			t.Fatalf("OutboxClaim(%s, limit %d, retried %v) = %v, want %v", now.Sub(base), limit, retried, list, want)
		}
	}
	id := func(i, attempts int) string { return fmt.Sprintf("%s:%d", ids[i], attempts) }
	attempts := func(i int) int {
		t.Helper()
		var n int
		if err := s.Pool().QueryRow(ctx, `SELECT attempts FROM herald_outbox WHERE id = $1`, ids[i]).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t0 := base.Add(time.Minute)
	claim(t0, 10, true)
	claim(t0, 10, false, id(0, 1), id(1, 1), id(2, 1)) // oldest first
	claim(t0.Add(time.Second), 10, false)
	claim(t0.Add(time.Second), 10, true)

	t1 := t0.Add(10 * time.Second)
	claim(t1, 10, false)
	claim(t1, 1, true, id(0, 2))
	claim(t1, 1, true, id(1, 2))
	if err := s.OutboxRelease(ctx, []string{ids[1], ids[2]}); err != nil {
		t.Fatal(err)
	}
	if a, c := attempts(1), attempts(2); a != 1 || c != 0 {
		t.Errorf("attempts after release = %d, %d; want 1, 0", a, c)
	}
	claim(t1, 10, true) // ids[1] is still claimed, ids[2] is new again
	claim(t1, 10, false, id(2, 1))

	if err := s.OutboxReject(ctx, ids[0], "relay was attempted 5 times"); err != nil {
		t.Fatal(err)
	}
	if err := s.OutboxRelease(ctx, []string{ids[0]}); err != nil {
		t.Fatal(err)
	}
	if n := attempts(0); n != 2 {
		t.Errorf("release changed a refused entry's attempts to %d", n)
	}
	claim(t1.Add(time.Hour), 10, true, id(1, 2), id(2, 2))
}
