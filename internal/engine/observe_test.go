package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/testkit"
)

// recorder is an engine.Observer that remembers what it was told.
type recorder struct {
	mu       sync.Mutex
	events   map[string]int
	runs     map[string]int
	queued   []time.Duration
	executed map[bool]int
	commits  map[string]int
	webhooks int
}

func newRecorder() *recorder {
	return &recorder{events: map[string]int{}, runs: map[string]int{}, executed: map[bool]int{}, commits: map[string]int{}}
}

func (r *recorder) EventsIngested(source string, n int) {
	r.mu.Lock()
	r.events[source] += n
	r.mu.Unlock()
}
func (r *recorder) RunsFinished(status string, n int) {
	r.mu.Lock()
	r.runs[status] += n
	r.mu.Unlock()
}
func (r *recorder) StepStarted(q time.Duration) {
	r.mu.Lock()
	r.queued = append(r.queued, q)
	r.mu.Unlock()
}
func (r *recorder) StepFinished(_ time.Duration, ok bool) {
	r.mu.Lock()
	r.executed[ok]++
	r.mu.Unlock()
}
func (r *recorder) StoreCommit(op string, _ time.Duration, _ error) {
	r.mu.Lock()
	r.commits[op]++
	r.mu.Unlock()
}
func (r *recorder) WebhookVerificationFailed() { r.mu.Lock(); r.webhooks++; r.mu.Unlock() }

func twoStep(name string) store.WorkflowDef {
	return store.WorkflowDef{Name: name, Triggers: store.PlainTriggers("order.created"), Steps: []store.StepDef{
		{Name: "a", Retry: store.RetryDef{MaxAttempts: 1}}, {Name: "b", Parents: []string{"a"}, Retry: store.RetryDef{MaxAttempts: 1}},
	}}
}

// TestObserverSeesEventsRunsAndSteps drives a run to its end through the engine and checks
// what the observer was told.
func TestObserverSeesEventsRunsAndSteps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := newRecorder()
	eng, err := engine.New(ctx, openStore(t), engine.Config{Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	eng.Start()
	t.Cleanup(eng.Close)
	tenant := bootstrapTenant(t, eng)
	for _, name := range []string{"ok", "bad"} {
		if _, _, err := eng.PutWorkflow(ctx, tenant, twoStep(name)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := eng.Push(ctx, tenant, []engine.EventInput{{Key: "order.created"}, {Key: "order.created"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	w, err := eng.RegisterWorker(ctx, tenant, "w", []string{"ok", "bad"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	// Run every step: "ok" succeeds, "bad" fails its first step without retries.
	for done := 0; done < 8; {
		as, err := eng.Poll(ctx, tenant, w.ID, 10, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) == 0 {
			t.Fatalf("no work after %d steps", done)
		}
		for _, a := range as {
			if a.Workflow == "ok" {
				err = eng.Complete(ctx, tenant, w.ID, a.StepRunID, a.LeaseID, json.RawMessage(`{}`))
				done++
			} else {
				err = eng.Fail(ctx, tenant, w.ID, a.StepRunID, a.LeaseID, "boom", false)
				done += 2 // its second step never runs
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := eng.StartRun(ctx, tenant, "ok", nil); err != nil {
		t.Fatal(err)
	}
	runs, err := eng.Store().RunList(ctx, tenant, store.RunFilter{Status: store.RunQueued, Limit: 10})
	if err != nil || len(runs) != 1 {
		t.Fatalf("queued runs: %v, %v", runs, err)
	}
	if _, err := eng.CancelRun(ctx, tenant, runs[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Replay(ctx, tenant, res[0].Event.ID); err != nil {
		t.Fatal(err)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.events[store.SourceAPI] != 2 || rec.events[store.SourceReplay] != 1 {
		t.Errorf("events ingested = %v, want 2 api and 1 replay", rec.events)
	}
	if rec.runs[store.RunSucceeded] != 2 || rec.runs[store.RunFailed] != 2 || rec.runs[store.RunCancelled] != 1 {
		t.Errorf("runs finished = %v, want 2 succeeded, 2 failed, 1 cancelled", rec.runs)
	}
	if len(rec.queued) != 6 {
		t.Errorf("steps started = %d, want 6", len(rec.queued))
	}
	for _, q := range rec.queued {
		if q < 0 || q > time.Minute {
			t.Errorf("queue time %s is not plausible", q)
		}
	}
	if rec.executed[true] != 4 || rec.executed[false] != 2 {
		t.Errorf("steps finished = %v, want 4 succeeded and 2 failed", rec.executed)
	}
	if rec.commits["ingest"] < 3 || rec.commits["finish"] < 1 {
		t.Errorf("store commits = %v, want ingest and finish transactions", rec.commits)
	}
}

// bootstrapTenant creates the default tenant and returns its id.
func bootstrapTenant(t *testing.T, eng *engine.Engine) string {
	t.Helper()
	ctx := context.Background()
	if _, err := eng.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	tn, err := eng.Store().TenantGetByName(ctx, engine.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID
}

// TestReplayReevaluatesAgainstTodaysWorkflows replays an event after a workflow was
// disabled and another added.
func TestReplayReevaluatesAgainstTodaysWorkflows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	eng, err := engine.New(ctx, openStore(t), engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	eng.Start()
	t.Cleanup(eng.Close)
	tenant := bootstrapTenant(t, eng)
	if _, _, err := eng.PutWorkflow(ctx, tenant, twoStep("old")); err != nil {
		t.Fatal(err)
	}
	res, err := eng.Push(ctx, tenant, []engine.EventInput{{Key: "order.created", Payload: json.RawMessage(`{"n":1}`),
		Metadata: json.RawMessage(`{"region":"eu"}`)}}, false)
	if err != nil {
		t.Fatal(err)
	}
	orig := res[0].Event
	if _, err := eng.SetWorkflowActive(ctx, tenant, "old", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := eng.PutWorkflow(ctx, tenant, twoStep("new")); err != nil {
		t.Fatal(err)
	}
	rep, err := eng.Replay(ctx, tenant, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	ev := rep.Event
	if ev.ID == orig.ID || ev.ReplayOf != orig.ID || ev.Source != store.SourceReplay || ev.Key != orig.Key ||
		string(ev.Payload) != `{"n":1}` || string(ev.Metadata) != `{"region":"eu"}` {
		t.Errorf("replay = %+v, want a new replay event of %s with the same key, payload and metadata", ev, orig.ID)
	}
	if len(rep.Runs) != 1 || rep.Runs[0].Workflow != "new" {
		t.Errorf("replay runs = %+v, want only the new workflow", rep.Runs)
	}
	var skipped bool
	for _, d := range ev.Triggers {
		skipped = skipped || (d.Workflow == "old" && d.Skipped == "disabled")
	}
	if !skipped {
		t.Errorf("replay triggers = %+v, want old skipped as disabled", ev.Triggers)
	}
	if _, err := eng.Replay(ctx, "another-tenant", orig.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("replay from another tenant: %v, want ErrNotFound", err)
	}
}

// TestRetentionPrunesInBatches stores old data directly, then lets the background duty
// prune it: every old event and ended run goes, batch by batch; a run still queued and
// recent data stay.
func TestRetentionPrunesInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	setupEng, err := engine.New(ctx, st, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tenant := bootstrapTenant(t, setupEng)
	wf, _, err := setupEng.PutWorkflow(ctx, tenant, twoStep("w"))
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Millisecond)
	var items []store.IngestItem
	for i := 0; i < 7; i++ {
		ev := &store.Event{ID: idAt(old, i), TenantID: tenant, Key: "order.created", Payload: json.RawMessage(`{}`),
			Source: store.SourceAPI, Triggers: []store.TriggerDecision{}, CreatedAt: old}
		run := store.IngestRun{Run: store.Run{ID: idAt(old, 100+i), TenantID: tenant, WorkflowID: wf.ID, WorkflowName: "w", Version: 1,
			EventID: ev.ID, Status: store.RunQueued, Input: json.RawMessage(`{}`), CreatedAt: old}}
		items = append(items, store.IngestItem{Event: ev, Runs: []store.IngestRun{run}})
	}
	queuedRun := items[6].Runs[0].Run.ID
	if err := st.EventInsert(ctx, items); err != nil {
		t.Fatal(err)
	}
	for _, it := range items[:6] {
		if _, err := st.RunCancel(ctx, store.RunCancelParams{TenantID: tenant, ID: it.Runs[0].Run.ID, At: old.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	setupEng.Close()

	eng, err := engine.New(ctx, st, engine.Config{Retention: time.Hour, RetentionInterval: 10 * time.Millisecond, RetentionBatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	eng.Start()
	t.Cleanup(eng.Close)
	recent, err := eng.Push(ctx, tenant, []engine.EventInput{{Key: "order.created"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Poll(t, "the old events pruned (events left)", func() (int, bool) {
		evs, err := st.EventList(ctx, tenant, store.EventFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs), len(evs) == 1
	})
	if _, err := st.EventGet(ctx, tenant, recent[0].Event.ID); err != nil {
		t.Errorf("the recent event was pruned: %v", err)
	}
	runs, err := st.RunList(ctx, tenant, store.RunFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range runs {
		ids[r.ID] = true
	}
	if !ids[queuedRun] || len(runs) != 2 {
		t.Errorf("runs left = %d (queued run kept: %v), want the queued old run and the recent one", len(runs), ids[queuedRun])
	}
	// PruneOnce reports nothing more to do.
	r, err := eng.PruneOnce(ctx, time.Now())
	if err != nil || r.Total() != 0 {
		t.Errorf("PruneOnce after the duty = %+v, %v; want nothing", r, err)
	}
}

// idAt is a UUIDv7 of time t (ids are time-ordered; stores prune along them), unique by n.
func idAt(t time.Time, n int) string {
	return store.TimeID(t)[:14] + fmt.Sprintf("7%03x-8%03x-%012x", n%4096, n/4096, n)
}
