package postgres

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
)

// statementTracer records, while on, the statements sent one at a time (Query, Exec) and
// the statements of each batch sent in one round trip (SendBatch).
type statementTracer struct {
	on      atomic.Bool
	mu      sync.Mutex
	queries []string
	batches [][]string
}

func (tr *statementTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if tr.on.Load() {
		tr.mu.Lock()
		tr.queries = append(tr.queries, d.SQL)
		tr.mu.Unlock()
	}
	return ctx
}

func (tr *statementTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (tr *statementTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	if tr.on.Load() {
		var sqls []string
		for _, q := range d.Batch.QueuedQueries {
			sqls = append(sqls, q.SQL)
		}
		tr.mu.Lock()
		tr.batches = append(tr.batches, sqls)
		tr.mu.Unlock()
	}
	return ctx
}

func (tr *statementTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (tr *statementTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TestFinishBatchShape: finishing a batch of 50 results costs the same round trips as
// finishing one: BEGIN, one statement locking the runs (in id order), one reading their
// step-runs, then one pipelined batch holding the UPDATE of the step-runs, the UPDATE of
// the runs that ended, the COMMIT and the wake-up of the queues that got work.
func TestFinishBatchShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := &statementTracer{}
	pc, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	pc.ConnConfig.Tracer = tr
	pc.MaxConns = 1 // one connection, whose statements the warm-up prepared
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{pool: pool}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	now := time.Now().UTC().Truncate(time.Millisecond)
	tenant := store.Tenant{ID: uuid.NewString(), Name: "acme", CreatedAt: now}
	if err := s.TenantCreate(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	retry := store.RetryDef{MaxAttempts: 3, InitialBackoffMS: 1000, MaxBackoffMS: 1000, Multiplier: 1}
	def := store.WorkflowDef{Name: "orders", Triggers: store.PlainTriggers("order.paid"), Steps: []store.StepDef{
		{Name: "a", TimeoutMS: 60000, Retry: retry}, {Name: "b", Parents: []string{"a"}, TimeoutMS: 60000, Retry: retry}}}
	wf, _, err := s.WorkflowPut(ctx, store.PutWorkflowParams{TenantID: tenant.ID, NewID: uuid.NewString(), Def: def, Hash: "h", At: now})
	if err != nil {
		t.Fatal(err)
	}
	var items []store.IngestItem
	for range 51 {
		r := store.IngestRun{Run: store.Run{ID: uuid.NewString(), TenantID: tenant.ID, WorkflowID: wf.ID, WorkflowName: "orders",
			Version: wf.Version, Status: store.RunQueued, Input: json.RawMessage(`{}`), CreatedAt: now}}
		for i, sd := range def.Steps {
			st := store.StepRun{ID: uuid.NewString(), TenantID: tenant.ID, RunID: r.Run.ID, WorkflowName: "orders", Step: sd.Name,
				Position: i, Parents: sd.Parents, PendingParents: len(sd.Parents), Status: store.StepPending, MaxAttempts: 3,
				TimeoutMS: sd.TimeoutMS, Retry: retry}
			if len(sd.Parents) == 0 {
				st.Status, st.QueuedAt = store.StepQueued, &now
			}
			r.Steps = append(r.Steps, st)
		}
		items = append(items, store.IngestItem{Runs: []store.IngestRun{r}})
	}
	if err := s.EventInsert(ctx, items); err != nil {
		t.Fatal(err)
	}
	worker := store.Worker{ID: uuid.NewString(), TenantID: tenant.ID, Name: "w", Workflows: []string{"orders"}, Slots: 51, CreatedAt: now, LastHeartbeatAt: now}
	if err := s.WorkerRegister(ctx, worker); err != nil {
		t.Fatal(err)
	}
	as, err := s.StepClaim(ctx, store.ClaimParams{TenantID: tenant.ID, WorkerID: worker.ID, Workflows: []string{"orders"}, Max: 51, Now: now,
		LeaseFor: time.Minute, NewLeaseID: uuid.NewString})
	if err != nil || len(as) != 51 {
		t.Fatalf("claimed %d steps (%v), want 51", len(as), err)
	}
	result := func(a store.Assignment, ok bool) store.StepResult {
		return store.StepResult{TenantID: tenant.ID, StepRunID: a.StepRunID, LeaseID: a.LeaseID, Succeeded: ok,
			Output: json.RawMessage(`{}`), Error: "no", At: now.Add(time.Second)}
	}
	// The first finish prepares the statements on the connection.
	if outs, err := s.StepFinish(ctx, []store.StepResult{result(as[0], true)}); err != nil || outs[0].Err != nil {
		t.Fatalf("finishing one step: %+v, %v", outs, err)
	}

	// 49 successes queue their runs' second steps; a failure not to retry ends its run.
	var results []store.StepResult
	for i, a := range as[1:] {
		results = append(results, result(a, i < 49))
	}
	tr.on.Store(true)
	outs, err := s.StepFinish(ctx, results)
	tr.on.Store(false)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		want := store.RunRunning
		if i == 49 {
			want = store.RunFailed
		}
		if o.Err != nil || o.RunStatus != want {
			t.Fatalf("outcome %d = %+v, want run %s", i, o, want)
		}
	}

	if want := []string{"begin", lockResultRunsSQL, runStepsSQL}; strings.Join(tr.queries, "\n;\n") != strings.Join(want, "\n;\n") {
		t.Errorf("statements sent one at a time:\n%s\nwant BEGIN, the run lock, the step-run read:\n%s",
			strings.Join(tr.queries, "\n;\n"), strings.Join(want, "\n;\n"))
	}
	if len(tr.batches) != 1 {
		t.Fatalf("%d pipelined batches, want 1: %q", len(tr.batches), tr.batches)
	}
	prefixes := []string{"UPDATE step_runs ", "UPDATE runs ", "COMMIT", "SELECT pg_notify("}
	b := tr.batches[0]
	ok := len(b) == len(prefixes)
	for i := 0; ok && i < len(b); i++ {
		ok = strings.HasPrefix(b[i], prefixes[i])
	}
	if !ok {
		t.Errorf("the pipelined batch sent %q, want statements starting %q", b, prefixes)
	}
}
