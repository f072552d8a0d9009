package engine_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
)

// TestPollClaimsWorkStampedByAClockAhead: another replica whose clock runs ahead of this
// one's queues a step whose availability is, by this replica's clock, in the future.
// Its commit wakes this replica's polls, which find nothing claimable yet; they must
// claim it when it is due instead of waiting out their long poll.
func TestPollClaimsWorkStampedByAClockAhead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	open := func() *postgres.Store {
		st, err := postgres.Open(ctx, postgres.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	eng, tenant := startEngine(t, open(), engine.Config{})
	other := open() // the replica whose clock is ahead, writing straight to the store
	def := store.WorkflowDef{Name: "w", Triggers: store.PlainTriggers("k"), Steps: []store.StepDef{{Name: "s"}}}
	wf, _, err := eng.PutWorkflow(ctx, tenant, def)
	if err != nil {
		t.Fatal(err)
	}
	w, err := eng.RegisterWorker(ctx, tenant, "w", []string{"w"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ahead := time.Now().Add(300 * time.Millisecond)
	run := store.IngestRun{Run: store.Run{ID: engine.NewID(), TenantID: tenant, WorkflowID: wf.ID, WorkflowName: "w", Version: wf.Version,
		Status: store.RunQueued, Input: json.RawMessage(`{}`), CreatedAt: ahead}}
	run.Steps = []store.StepRun{{ID: engine.NewID(), TenantID: tenant, RunID: run.Run.ID, WorkflowName: "w", Step: "s",
		Status: store.StepQueued, MaxAttempts: 1, TimeoutMS: 60000, QueuedAt: &ahead}}
	if err := other.EventInsert(ctx, []store.IngestItem{{Runs: []store.IngestRun{run}}}); err != nil {
		t.Fatal(err)
	}
	as, err := eng.Poll(ctx, tenant, w.ID, 1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].RunID != run.Run.ID {
		t.Fatalf("the long poll returned %d assignments, want the step queued by the replica ahead", len(as))
	}
}
