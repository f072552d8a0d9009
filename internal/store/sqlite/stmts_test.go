package sqlite

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/store"
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

// TestFinishStepsCachesFewStatements finishes batches of many sizes (successes that
// queue a child, retries, failures that end their run and take its queued step out of
// the queue): the statements the finishing transactions add to the writer's cache are a
// few fixed texts, whatever the batch size, and each batch stores what its results
// decided.
func TestFinishStepsCachesFewStatements(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "h.db"), Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)
	later := now.Add(time.Hour)
	tenant := store.Tenant{ID: uuid.NewString(), Name: "acme", CreatedAt: now}
	if err := s.TenantCreate(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	retry := store.RetryDef{MaxAttempts: 2, InitialBackoffMS: 1000, MaxBackoffMS: 1000, Multiplier: 1}
	def := store.WorkflowDef{Name: "orders", Triggers: store.PlainTriggers("order.paid"), Steps: []store.StepDef{
		{Name: "a", TimeoutMS: 60000, Retry: retry}, {Name: "b", Parents: []string{"a"}, TimeoutMS: 60000, Retry: retry},
		{Name: "c", TimeoutMS: 60000, Retry: retry}}}
	wf, _, err := s.WorkflowPut(ctx, store.PutWorkflowParams{TenantID: tenant.ID, NewID: uuid.NewString(), Def: def, Hash: "h", At: now})
	if err != nil {
		t.Fatal(err)
	}
	worker := store.Worker{ID: uuid.NewString(), TenantID: tenant.ID, Name: "w", Workflows: []string{"orders"}, Slots: 1, CreatedAt: now, LastHeartbeatAt: now}
	if err := s.WorkerRegister(ctx, worker); err != nil {
		t.Fatal(err)
	}
	cached := func() map[string]bool {
		s.stmts.mu.Lock()
		defer s.stmts.mu.Unlock()
		m := map[string]bool{}
		for q := range s.stmts.stmts {
			m[q] = true
		}
		return m
	}
	finishing := map[string]bool{} // statements first cached by a finishing transaction
	sizes := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 31, 50, 64, 99, 128, 200}
	for _, n := range sizes {
		var items []store.IngestItem
		for range n {
			r := store.IngestRun{Run: store.Run{ID: uuid.NewString(), TenantID: tenant.ID, WorkflowID: wf.ID, WorkflowName: "orders",
				Version: wf.Version, Status: store.RunQueued, Input: json.RawMessage(`{}`), CreatedAt: now}}
			for i, sd := range def.Steps {
				st := store.StepRun{ID: uuid.NewString(), TenantID: tenant.ID, RunID: r.Run.ID, WorkflowName: "orders", Step: sd.Name,
					Position: i, Parents: sd.Parents, PendingParents: len(sd.Parents), Status: store.StepPending, MaxAttempts: 2,
					TimeoutMS: sd.TimeoutMS, Retry: retry}
				switch sd.Name {
				case "a":
					st.Status, st.QueuedAt = store.StepQueued, &now
				case "c": // queued, available only after the test: claims take the a steps
					st.Status, st.QueuedAt = store.StepQueued, &later
				}
				r.Steps = append(r.Steps, st)
			}
			items = append(items, store.IngestItem{Runs: []store.IngestRun{r}})
		}
		if err := s.EventInsert(ctx, items); err != nil {
			t.Fatal(err)
		}
		as, err := s.StepClaim(ctx, store.ClaimParams{TenantID: tenant.ID, WorkerID: worker.ID, Workflows: []string{"orders"}, Max: n, Now: now,
			LeaseFor: time.Minute, NewLeaseID: uuid.NewString})
		if err != nil || len(as) != n {
			t.Fatalf("batch of %d: claimed %d (%v)", n, len(as), err)
		}
		results := make([]store.StepResult, n)
		for i, a := range as {
			results[i] = store.StepResult{TenantID: tenant.ID, StepRunID: a.StepRunID, LeaseID: a.LeaseID, At: now.Add(time.Second)}
			switch i % 3 {
			case 0:
				results[i].Succeeded, results[i].Output = true, json.RawMessage(`{"i":1}`)
			case 1:
				results[i].Error, results[i].Retryable = "again", true
			case 2:
				results[i].Error = "no"
			}
		}
		before := cached()
		outs, err := s.StepFinish(ctx, results)
		if err != nil {
			t.Fatalf("batch of %d: %v", n, err)
		}
		for q := range cached() {
			if !before[q] {
				finishing[q] = true
			}
		}
		for i, o := range outs {
			want := []string{store.RunRunning, store.RunRunning, store.RunFailed}[i%3]
			if o.Err != nil || o.RunStatus != want || o.StepRunID != as[i].StepRunID {
				t.Fatalf("batch of %d: outcome %d = %+v, want run %s", n, i, o, want)
			}
			_, steps, err := s.RunGet(ctx, tenant.ID, as[i].RunID)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range steps {
				if st.ID == as[i].StepRunID {
					if w := []string{store.StepSucceeded, store.StepQueued, store.StepFailed}[i%3]; st.Status != w {
						t.Fatalf("batch of %d: step %s = %s, want %s", n, st.Step, st.Status, w)
					}
				}
			}
		}
	}
	var qs []string
	for q := range finishing {
		qs = append(qs, q)
	}
	if len(qs) > 6 {
		t.Errorf("finishing batches of %d sizes cached %d statements, want at most 6:\n%s", len(sizes), len(qs), strings.Join(qs, "\n"))
	}
	var queued, inQueue int
	if err := s.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM step_runs WHERE status = 'queued'), (SELECT count(*) FROM step_queue)`).
		Scan(&queued, &inQueue); err != nil || queued != inQueue {
		t.Errorf("%d step-runs queued, %d in the ready queue (%v): the queue must follow the status", queued, inQueue, err)
	}
}
