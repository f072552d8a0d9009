package storetest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

func testWorkflowStats(t *testing.T, open Opener) {
	b := setup(t, open)
	other := b.newTenant("globex")
	wf := b.workflow("checkout", stepDef("a"))
	idle := b.workflow("idle", stepDef("a"))
	owf := b.putWorkflow(other.ID, def("checkout", stepDef("a")))
	_ = idle

	// Ten succeeded runs lasting 100ms, 200ms, ... 1s, one failed run of 2s.
	clock := time.Duration(0)
	runOnce := func(w store.Workflow, d time.Duration, ok bool) {
		t.Helper()
		b.startRun(w, at(clock))
		a := b.claimOne(at(clock+time1), w.Name)
		if ok {
			b.succeed(a, at(clock+time1+d), `{}`)
		} else {
			b.fail(a, at(clock+time1+d), "boom", false)
		}
		clock += time.Minute
	}
	for i := 1; i <= 10; i++ {
		runOnce(wf, time.Duration(i)*100*ms, true)
	}
	runOnce(wf, 2*time.Second, false)
	cancelled := b.startRun(wf, at(clock))
	_, err := b.s.RunCancel(b.ctx, store.RunCancelParams{TenantID: b.tenant.ID, ID: cancelled.Run.ID, At: at(clock + time1)})
	noErr(t, err, "CancelRun")
	b.startRun(wf, at(clock)) // unfinished
	// Before the window: not counted.
	b.startRun(wf, at(-time.Hour))
	// Another tenant's runs: not counted.
	ob := &bundle{t: t, ctx: b.ctx, s: b.s, tenant: other, worker: b.newWorker(other.ID, "w")}
	ob.startRun(owf, at(0))

	stats, err := b.s.StatsWorkflows(b.ctx, b.tenant.ID, base)
	noErr(t, err, "WorkflowStats")
	want := []store.WorkflowStats{{
		Workflow: "checkout", Succeeded: 10, Failed: 1, Cancelled: 1, Unfinished: 1,
		P50: 600 * ms, P95: 2 * time.Second,
	}}
	if !reflect.DeepEqual(stats, want) {
		t.Errorf("WorkflowStats = %+v,\nwant %+v", stats, want)
	}

	stats, err = b.s.StatsWorkflows(b.ctx, b.tenant.ID, at(-2*time.Hour))
	noErr(t, err, "WorkflowStats(wider window)")
	if len(stats) != 1 || stats[0].Unfinished != 2 {
		t.Errorf("WorkflowStats(wider window) = %+v, want checkout with 2 unfinished runs", stats)
	}
	stats, err = b.s.StatsWorkflows(b.ctx, b.tenant.ID, at(24*time.Hour))
	noErr(t, err, "WorkflowStats(empty window)")
	if len(stats) != 0 {
		t.Errorf("WorkflowStats(empty window) = %+v, want none", stats)
	}
}

func testActivity(t *testing.T, open Opener) {
	b := setup(t, open)
	other := b.newTenant("globex")
	wf := b.workflow("checkout", stepDef("a"))

	event := func(source string, d time.Duration) {
		ev := newEvent(b.tenant.ID, "checkout.done", at(d))
		ev.Source = source
		b.ingest(store.IngestItem{Event: ev})
	}
	event(store.SourceAPI, 0)
	event(store.SourceAPI, 30*time.Second)
	event(store.SourceRun, 61*time.Second)
	event(store.SourceAPI, 5*time.Minute) // at Until: outside
	event(store.SourceAPI, -time.Second)  // before Since: outside
	b.ingest(store.IngestItem{Event: newEvent(other.ID, "checkout.done", at(0))})

	// Runs: r1 created at 0s starts at 2s; r2 created at 10s starts at 10.5s (both in
	// bucket 0); r3 created at 70s never starts (bucket 1); r4 created at 80s, cancelled.
	b.startRun(wf, at(0))
	b.startRun(wf, at(10*time.Second))
	a1 := b.claimOne(at(2*time.Second), "checkout")
	a2 := b.claimOne(at(10*time.Second+500*ms), "checkout")
	b.succeed(a1, at(3*time.Second), `{}`)
	_ = a2
	b.startRun(wf, at(70*time.Second))
	r4 := b.startRun(wf, at(80*time.Second))
	_, err := b.s.RunCancel(b.ctx, store.RunCancelParams{TenantID: b.tenant.ID, ID: r4.Run.ID, At: at(81 * time.Second)})
	noErr(t, err, "CancelRun")

	got, err := b.s.StatsActivity(b.ctx, store.ActivityParams{TenantID: b.tenant.ID, Since: base, Until: at(5 * time.Minute), Bucket: time.Minute})
	noErr(t, err, "Activity")
	wantEvents := []store.BucketCount{{Bucket: 0, Label: store.SourceAPI, Count: 2}, {Bucket: 1, Label: store.SourceRun, Count: 1}}
	if !reflect.DeepEqual(got.Events, wantEvents) {
		t.Errorf("Activity.Events = %+v, want %+v", got.Events, wantEvents)
	}
	wantRuns := []store.BucketCount{{Bucket: 0, Label: store.RunRunning, Count: 1}, {Bucket: 0, Label: store.RunSucceeded, Count: 1}, {Bucket: 1, Label: store.RunCancelled, Count: 1}, {Bucket: 1, Label: store.RunQueued, Count: 1}}
	if !reflect.DeepEqual(got.Runs, wantRuns) {
		t.Errorf("Activity.Runs = %+v, want %+v", got.Runs, wantRuns)
	}
	wantLat := []store.LatencyBucket{{Bucket: 0, Count: 2, P50: 500 * ms, P95: 2 * time.Second, P99: 2 * time.Second}}
	if !reflect.DeepEqual(got.StartLatency, wantLat) {
		t.Errorf("Activity.StartLatency = %+v, want %+v", got.StartLatency, wantLat)
	}

	got, err = b.s.StatsActivity(b.ctx, store.ActivityParams{TenantID: other.ID, Since: base, Until: at(5 * time.Minute), Bucket: time.Minute})
	noErr(t, err, "Activity(other tenant)")
	if len(got.Events) != 1 || got.Events[0].Count != 1 || len(got.Runs) != 0 || len(got.StartLatency) != 0 {
		t.Errorf("Activity(other tenant) = %+v, want one event and nothing else", got)
	}
}

func testQueueDepth(t *testing.T, open Opener) {
	b := setup(t, open)
	other := b.newTenant("globex")
	wf := b.workflow("fanout", stepDef("a"), stepDef("b"), stepDef("c", "a", "b"))
	owf := b.putWorkflow(other.ID, def("fanout", stepDef("a")))
	depths := func() map[string]int {
		t.Helper()
		m, err := b.s.StatsQueueDepths(b.ctx)
		noErr(t, err, "QueueDepths")
		return m
	}
	depth := func(tenantID string) int {
		t.Helper()
		return depths()[tenantID]
	}
	if m := depths(); len(m) != 0 {
		t.Errorf("QueueDepths on an empty store = %v, want none", m)
	}
	b.startRun(wf, base)
	b.ingest(store.IngestItem{Runs: []store.IngestRun{newRun(owf, "", json.RawMessage(`{}`), base)}})
	if n := depth(b.tenant.ID); n != 2 {
		t.Errorf("QueueDepth(acme) = %d, want 2 (two root steps)", n)
	}
	if n := depth(other.ID); n != 1 {
		t.Errorf("QueueDepth(globex) = %d, want 1", n)
	}
	b.claimOne(at(time1), "fanout")
	if n := depth(b.tenant.ID); n != 1 {
		t.Errorf("QueueDepth(acme) after a claim = %d, want 1", n)
	}
}

func testTimings(t *testing.T, open Opener) {
	b := setup(t, open)
	wf := b.workflow("pay", stepDef("charge"))
	b.startRun(wf, at(time1))
	a := b.claimOne(at(3*time1), "pay")
	if !a.AvailableAt.Equal(at(time1)) {
		t.Errorf("Assignment.AvailableAt = %s, want the queue time %s", a.AvailableAt, at(time1))
	}
	o := b.fail(a, at(4*time1), "flaky", true) // retried after 1s of backoff
	if !o.StartedAt.Equal(at(3 * time1)) {
		t.Errorf("FinishOutcome.StartedAt = %s, want the claim time %s", o.StartedAt, at(3*time1))
	}
	a = b.claimOne(at(10*time1), "pay")
	if !a.AvailableAt.Equal(at(5 * time1)) {
		t.Errorf("retry: Assignment.AvailableAt = %s, want the end of the backoff %s", a.AvailableAt, at(5*time1))
	}
	o = b.succeed(a, at(11*time1), `{}`)
	if !o.StartedAt.Equal(at(10 * time1)) {
		t.Errorf("retry: FinishOutcome.StartedAt = %s, want %s", o.StartedAt, at(10*time1))
	}
	stale := b.finish(store.StepResult{StepRunID: a.StepRunID, LeaseID: a.LeaseID, Succeeded: true, Output: json.RawMessage(`{}`), At: at(12 * time1)})
	if stale.Err == nil || !stale.StartedAt.IsZero() {
		t.Errorf("refused result: Err = %v, StartedAt = %s; want a refusal and no start time", stale.Err, stale.StartedAt)
	}
}
