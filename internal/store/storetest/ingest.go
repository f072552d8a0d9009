package storetest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// diamond is a→{b,c}→d.
func diamond(name string) store.WorkflowDef {
	return def(name, stepDef("a"), stepDef("b", "a"), stepDef("c", "a"), stepDef("d", "b", "c"))
}

func testIngest(t *testing.T, open Opener) {
	t.Run("EventWithRunsIsStored", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", diamond("orders").Steps...)
		ev := newEvent(b.tenant.ID, "orders.created", at(time1))
		ev.Payload = json.RawMessage(`{"id": 7, "items": ["x", "y"], "total": 12.5}`)
		ev.Metadata = json.RawMessage(`{"trace": "abc"}`)
		run := newRun(wf, ev.ID, ev.Payload, at(time1))
		ev.Triggers = []store.TriggerDecision{
			{Workflow: "orders", Version: 1, RunID: run.Run.ID},
			{Workflow: "legacy", Version: 3, Skipped: "disabled"},
		}
		// Steps are handed over out of definition order; RunGet must order by position.
		want := append([]store.StepRun(nil), run.Steps...)
		run.Steps = []store.StepRun{want[3], want[1], want[0], want[2]}
		b.ingest(store.IngestItem{Event: ev, Runs: []store.IngestRun{run}})

		gotEv, err := b.s.EventGet(b.ctx, b.tenant.ID, ev.ID)
		noErr(t, err, "GetEvent")
		if gotEv.ID != ev.ID || gotEv.TenantID != b.tenant.ID || gotEv.Key != ev.Key || gotEv.Source != store.SourceAPI ||
			!gotEv.CreatedAt.Equal(ev.CreatedAt) || gotEv.ParentRunID != "" || gotEv.ParentStepRunID != "" || gotEv.ParentStep != "" {
			t.Errorf("GetEvent = %+v, want %+v", gotEv, ev)
		}
		jsonEq(t, gotEv.Payload, ev.Payload, "event payload")
		jsonEq(t, gotEv.Metadata, ev.Metadata, "event metadata")
		if !reflect.DeepEqual(gotEv.Triggers, ev.Triggers) {
			t.Errorf("event triggers = %+v, want %+v", gotEv.Triggers, ev.Triggers)
		}

		r, steps := b.getRun(run.Run.ID)
		if r.ID != run.Run.ID || r.TenantID != b.tenant.ID || r.WorkflowID != wf.ID || r.WorkflowName != "orders" ||
			r.Version != 1 || r.EventID != ev.ID || r.Status != store.RunQueued || r.Error != "" ||
			!r.CreatedAt.Equal(at(time1)) || r.StartedAt != nil || r.FinishedAt != nil {
			t.Errorf("GetRun = %+v, want %+v", r, run.Run)
		}
		jsonEq(t, r.Input, ev.Payload, "run input")
		if len(steps) != len(want) {
			t.Fatalf("GetRun: %d steps, want %d", len(steps), len(want))
		}
		for i, st := range steps {
			w := want[i]
			if st.ID != w.ID || st.Step != w.Step || st.Position != i || st.RunID != r.ID || st.TenantID != b.tenant.ID ||
				st.WorkflowName != "orders" || st.Status != w.Status || st.PendingParents != w.PendingParents ||
				st.Attempt != 0 || st.MaxAttempts != w.MaxAttempts || st.TimeoutMS != w.TimeoutMS ||
				!reflect.DeepEqual(st.Retry, w.Retry) || len(st.Parents) != len(w.Parents) || st.LeaseID != "" {
				t.Errorf("step %d = %+v, want %+v", i, st, w)
			}
			for j := range w.Parents {
				if j < len(st.Parents) && st.Parents[j] != w.Parents[j] {
					t.Errorf("step %s parents = %v, want %v", st.Step, st.Parents, w.Parents)
				}
			}
			if w.QueuedAt != nil {
				wantTime(t, st.QueuedAt, *w.QueuedAt, "step "+st.Step+" QueuedAt")
			}
		}
	})

	t.Run("EventFromAStep", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		parent := b.startRun(wf, base)
		ev := newEvent(b.tenant.ID, "orders.shipped", at(time1))
		ev.Source = store.SourceRun
		ev.ParentRunID, ev.ParentStepRunID, ev.ParentStep = parent.Run.ID, parent.Steps[0].ID, "a"
		b.ingest(store.IngestItem{Event: ev})

		got, err := b.s.EventGet(b.ctx, b.tenant.ID, ev.ID)
		noErr(t, err, "GetEvent")
		if got.Source != store.SourceRun || got.ParentRunID != parent.Run.ID || got.ParentStepRunID != parent.Steps[0].ID || got.ParentStep != "a" {
			t.Errorf("GetEvent = source %q parent %q/%q/%q, want run %s/%s/a", got.Source, got.ParentRunID, got.ParentStepRunID, got.ParentStep,
				parent.Run.ID, parent.Steps[0].ID)
		}
		if len(got.Metadata) != 0 && string(got.Metadata) != "null" {
			t.Errorf("event metadata = %s, want none", got.Metadata)
		}
		if len(got.Triggers) != 0 {
			t.Errorf("event triggers = %+v, want none", got.Triggers)
		}
	})

	t.Run("OneRunPerEventAndWorkflow", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		other := b.workflow("audit", stepDef("log"))
		ev := newEvent(b.tenant.ID, "orders.created", base)
		first := newRun(wf, ev.ID, ev.Payload, base)
		b.ingest(store.IngestItem{Event: ev, Runs: []store.IngestRun{first}})

		// A second run of the same workflow for the same event is refused...
		dup := newRun(wf, ev.ID, ev.Payload, at(time1))
		err := b.s.EventInsert(b.ctx, []store.IngestItem{{Runs: []store.IngestRun{dup}}})
		wantErr(t, err, store.ErrConflict, "Ingest(second run for the same event and workflow)")
		_, _, err = b.s.RunGet(b.ctx, b.tenant.ID, dup.Run.ID)
		wantErr(t, err, store.ErrNotFound, "GetRun(refused run)")

		// ...and so is a duplicate inside one item.
		ev2 := newEvent(b.tenant.ID, "orders.created", at(time1))
		r1, r2 := newRun(wf, ev2.ID, ev2.Payload, at(time1)), newRun(wf, ev2.ID, ev2.Payload, at(time1))
		err = b.s.EventInsert(b.ctx, []store.IngestItem{{Event: ev2, Runs: []store.IngestRun{r1, r2}}})
		wantErr(t, err, store.ErrConflict, "Ingest(two runs of one workflow for one event)")
		_, err = b.s.EventGet(b.ctx, b.tenant.ID, ev2.ID)
		wantErr(t, err, store.ErrNotFound, "GetEvent(event of the refused item)")

		// A run of another workflow for the same event is fine.
		b.ingest(store.IngestItem{Runs: []store.IngestRun{newRun(other, ev.ID, ev.Payload, at(time1))}})

		runs, err := b.s.RunList(b.ctx, b.tenant.ID, store.RunFilter{EventID: ev.ID, Limit: 10})
		noErr(t, err, "ListRuns")
		if len(runs) != 2 {
			t.Errorf("runs of the event = %d, want 2 (orders once, audit once)", len(runs))
		}
	})

	t.Run("FailedBatchStoresNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"), stepDef("b", "a"))
		ev1 := newEvent(b.tenant.ID, "orders.created", base)
		orig := newRun(wf, ev1.ID, ev1.Payload, base)
		b.ingest(store.IngestItem{Event: ev1, Runs: []store.IngestRun{orig}})

		// One batch: a good event with a run, a good manual run, then an item that breaks
		// invariant 2. The whole batch must be refused.
		ev2 := newEvent(b.tenant.ID, "orders.created", at(time1))
		good := newRun(wf, ev2.ID, ev2.Payload, at(time1))
		manual := newRun(wf, "", json.RawMessage(`{}`), at(time1))
		bad := newRun(wf, ev1.ID, ev1.Payload, at(time1))
		err := b.s.EventInsert(b.ctx, []store.IngestItem{
			{Event: ev2, Runs: []store.IngestRun{good}},
			{Runs: []store.IngestRun{manual}},
			{Runs: []store.IngestRun{bad}},
		})
		wantErr(t, err, store.ErrConflict, "Ingest(batch with a duplicate run)")

		_, err = b.s.EventGet(b.ctx, b.tenant.ID, ev2.ID)
		wantErr(t, err, store.ErrNotFound, "GetEvent(event of the failed batch)")
		for _, r := range []store.IngestRun{good, manual, bad} {
			_, _, err = b.s.RunGet(b.ctx, b.tenant.ID, r.Run.ID)
			wantErr(t, err, store.ErrNotFound, "GetRun(run of the failed batch)")
			if _, err := b.s.RunStepName(b.ctx, store.RunStepNameParams{TenantID: b.tenant.ID, RunID: r.Run.ID, StepRunID: r.Steps[0].ID}); err == nil {
				t.Errorf("step-run %s of the failed batch exists", r.Steps[0].ID)
			}
		}
		evs, err := b.s.EventList(b.ctx, b.tenant.ID, store.EventFilter{Limit: 10})
		noErr(t, err, "ListEvents")
		if len(evs) != 1 {
			t.Errorf("events = %d, want 1", len(evs))
		}
		runs, err := b.s.RunList(b.ctx, b.tenant.ID, store.RunFilter{Limit: 10})
		noErr(t, err, "ListRuns")
		if len(runs) != 1 {
			t.Errorf("runs = %d, want 1", len(runs))
		}
		// No step of the failed batch was queued.
		as := b.claim(at(time1), 10, "orders")
		if len(as) != 1 || as[0].RunID != orig.Run.ID {
			t.Errorf("claimable after the failed batch: %+v, want only the original run's first step", as)
		}
		if ks, err := b.s.StepReadySince(b.ctx, base, at(time1)); err != nil || len(ks) != 0 {
			t.Errorf("ReadySince over the failed batch = %v, %v, want nothing", ks, err)
		}
	})

	t.Run("ManualRunWithoutEvent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		r1 := b.startRun(wf, base)
		r2 := b.startRun(wf, at(time1)) // manual runs are not unique per workflow

		for _, want := range []store.IngestRun{r1, r2} {
			r, steps := b.getRun(want.Run.ID)
			if r.EventID != "" || r.Status != store.RunQueued || len(steps) != 1 {
				t.Errorf("manual run = %+v with %d steps, want no event, queued, 1 step", r, len(steps))
			}
			jsonEq(t, r.Input, want.Run.Input, "manual run input")
		}
		a := b.claimOne(at(time1), "orders")
		if a.RunID != r1.Run.ID || a.EventID != "" {
			t.Errorf("assignment = run %s event %q, want run %s without event", a.RunID, a.EventID, r1.Run.ID)
		}
		jsonEq(t, a.Input, r1.Run.Input, "assignment input")
	})

	t.Run("RunStep", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"), stepDef("b", "a"))
		r := b.startRun(wf, base)
		r2 := b.startRun(wf, base)
		other := b.newTenant("globex")

		step, err := b.s.RunStepName(b.ctx, store.RunStepNameParams{TenantID: b.tenant.ID, RunID: r.Run.ID})
		noErr(t, err, "RunStep(run only)")
		if step != "" {
			t.Errorf("RunStep(run only) = %q, want empty", step)
		}
		step, err = b.s.RunStepName(b.ctx, store.RunStepNameParams{TenantID: b.tenant.ID, RunID: r.Run.ID, StepRunID: r.Steps[1].ID})
		noErr(t, err, "RunStep")
		if step != "b" {
			t.Errorf("RunStep = %q, want b", step)
		}
		_, err = b.s.RunStepName(b.ctx, store.RunStepNameParams{TenantID: b.tenant.ID, RunID: r.Run.ID, StepRunID: r2.Steps[1].ID})
		wantErr(t, err, store.ErrNotFound, "RunStep(step-run of another run)")
		_, err = b.s.RunStepName(b.ctx, store.RunStepNameParams{TenantID: b.tenant.ID, RunID: newID()})
		wantErr(t, err, store.ErrNotFound, "RunStep(unknown run)")
		_, err = b.s.RunStepName(b.ctx, store.RunStepNameParams{TenantID: other.ID, RunID: r.Run.ID})
		wantErr(t, err, store.ErrNotFound, "RunStep(other tenant's run)")
		_, err = b.s.RunStepName(b.ctx, store.RunStepNameParams{TenantID: other.ID, RunID: r.Run.ID, StepRunID: r.Steps[0].ID})
		wantErr(t, err, store.ErrNotFound, "RunStep(other tenant's step-run)")
	})
}

func testEvents(t *testing.T, open Opener) {
	t.Run("ListNewestFirstWithCursor", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("globex")
		var ids []string // oldest first
		for i := 0; i < 5; i++ {
			key := "orders.created"
			if i%2 == 1 {
				key = "orders.paid"
			}
			ev := newEvent(b.tenant.ID, key, at(time.Duration(i)*time1))
			ids = append(ids, ev.ID)
			b.ingest(store.IngestItem{Event: ev})
		}
		b.ingest(store.IngestItem{Event: newEvent(other.ID, "orders.created", base)})

		list := func(f store.EventFilter) []string {
			t.Helper()
			evs, err := b.s.EventList(b.ctx, b.tenant.ID, f)
			noErr(t, err, "ListEvents")
			var out []string
			for _, e := range evs {
				if e.TenantID != b.tenant.ID {
					t.Errorf("ListEvents returned event %s of tenant %s", e.ID, e.TenantID)
				}
				out = append(out, e.ID)
			}
			return out
		}
		want := func(got []string, want ...string) {
			t.Helper()
			if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("ListEvents = %v, want %v", got, want)
			}
		}
		want(list(store.EventFilter{Limit: 10}), ids[4], ids[3], ids[2], ids[1], ids[0])
		want(list(store.EventFilter{Limit: 2}), ids[4], ids[3])
		want(list(store.EventFilter{Limit: 2, Before: ids[3]}), ids[2], ids[1])
		want(list(store.EventFilter{Limit: 2, Before: ids[1]}), ids[0])
		want(list(store.EventFilter{Limit: 2, Before: ids[0]}))
		want(list(store.EventFilter{Key: "orders.created", Limit: 10}), ids[4], ids[2], ids[0])
		want(list(store.EventFilter{Key: "orders.paid", Limit: 10}), ids[3], ids[1])
		want(list(store.EventFilter{Key: "orders.created", Limit: 10, Before: ids[4]}), ids[2], ids[0])
		want(list(store.EventFilter{Key: "orders.refunded", Limit: 10}))
	})

	t.Run("TenantIsolation", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("globex")
		ev := newEvent(b.tenant.ID, "orders.created", base)
		b.ingest(store.IngestItem{Event: ev})

		_, err := b.s.EventGet(b.ctx, other.ID, ev.ID)
		wantErr(t, err, store.ErrNotFound, "GetEvent(other tenant's)")
		_, err = b.s.EventGet(b.ctx, b.tenant.ID, newID())
		wantErr(t, err, store.ErrNotFound, "GetEvent(unknown)")
		evs, err := b.s.EventList(b.ctx, other.ID, store.EventFilter{Limit: 10})
		noErr(t, err, "ListEvents")
		if len(evs) != 0 {
			t.Errorf("ListEvents(globex) = %d events, want 0", len(evs))
		}
	})
}

func testRuns(t *testing.T, open Opener) {
	t.Run("ListFiltersNewestFirst", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		orders := b.workflow("orders", stepDef("a"))
		audit := b.workflow("audit", stepDef("log"))
		other := b.newTenant("globex")
		theirs := b.putWorkflow(other.ID, def("orders", stepDef("a")))

		ev1 := newEvent(b.tenant.ID, "orders.created", base)
		o1, a1 := newRun(orders, ev1.ID, ev1.Payload, base), newRun(audit, ev1.ID, ev1.Payload, base)
		b.ingest(store.IngestItem{Event: ev1, Runs: []store.IngestRun{o1, a1}})
		ev2 := newEvent(b.tenant.ID, "orders.created", at(time1))
		o2 := newRun(orders, ev2.ID, ev2.Payload, at(time1))
		b.ingest(store.IngestItem{Event: ev2, Runs: []store.IngestRun{o2}})
		o3 := b.startRun(orders, at(2*time1))
		evx := newEvent(other.ID, "orders.created", base)
		b.ingest(store.IngestItem{Event: evx, Runs: []store.IngestRun{newRun(theirs, evx.ID, evx.Payload, base)}})

		// o1 starts running when its step is claimed (oldest first).
		if a := b.claimOne(at(3*time1), "orders"); a.RunID != o1.Run.ID {
			t.Fatalf("claimed run %s, want the oldest %s", a.RunID, o1.Run.ID)
		}

		list := func(f store.RunFilter) []string {
			t.Helper()
			if f.Limit == 0 {
				f.Limit = 10
			}
			runs, err := b.s.RunList(b.ctx, b.tenant.ID, f)
			noErr(t, err, "ListRuns")
			var out []string
			for _, r := range runs {
				if r.TenantID != b.tenant.ID {
					t.Errorf("ListRuns returned run %s of tenant %s", r.ID, r.TenantID)
				}
				out = append(out, r.ID)
			}
			return out
		}
		want := func(what string, got []string, want ...store.IngestRun) {
			t.Helper()
			var ids []string
			for _, r := range want {
				ids = append(ids, r.Run.ID)
			}
			if !reflect.DeepEqual(got, ids) && !(len(got) == 0 && len(ids) == 0) {
				t.Errorf("ListRuns(%s) = %v, want %v", what, got, ids)
			}
		}
		want("all", list(store.RunFilter{}), o3, o2, a1, o1)
		want("event 1", list(store.RunFilter{EventID: ev1.ID}), a1, o1)
		want("event 2", list(store.RunFilter{EventID: ev2.ID}), o2)
		want("workflow orders", list(store.RunFilter{Workflow: "orders"}), o3, o2, o1)
		want("workflow audit", list(store.RunFilter{Workflow: "audit"}), a1)
		want("status running", list(store.RunFilter{Status: store.RunRunning}), o1)
		want("status queued", list(store.RunFilter{Status: store.RunQueued}), o3, o2, a1)
		want("orders queued", list(store.RunFilter{Workflow: "orders", Status: store.RunQueued}), o3, o2)
		want("limit 2", list(store.RunFilter{Limit: 2}), o3, o2)
		want("before o2", list(store.RunFilter{Limit: 2, Before: o2.Run.ID}), a1, o1)
		want("orders before o3", list(store.RunFilter{Workflow: "orders", Before: o3.Run.ID}), o2, o1)
		want("status failed", list(store.RunFilter{Status: store.RunFailed}))

		r, _ := b.getRun(o1.Run.ID)
		if r.Status != store.RunRunning {
			t.Errorf("claimed run status = %q, want running", r.Status)
		}
		wantTime(t, r.StartedAt, at(3*time1), "claimed run StartedAt")
	})

	t.Run("TenantIsolation", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		r := b.startRun(wf, base)
		other := b.newTenant("globex")

		_, _, err := b.s.RunGet(b.ctx, other.ID, r.Run.ID)
		wantErr(t, err, store.ErrNotFound, "GetRun(other tenant's)")
		_, _, err = b.s.RunGet(b.ctx, b.tenant.ID, newID())
		wantErr(t, err, store.ErrNotFound, "GetRun(unknown)")
		runs, err := b.s.RunList(b.ctx, other.ID, store.RunFilter{Limit: 10})
		noErr(t, err, "ListRuns")
		if len(runs) != 0 {
			t.Errorf("ListRuns(globex) = %d runs, want 0", len(runs))
		}
	})
}
