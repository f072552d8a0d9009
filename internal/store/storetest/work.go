package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/lifecycle"
	"github.com/heraldhq/herald/internal/store"
)

func testWorkers(t *testing.T, open Opener) {
	t.Run("RegisterAndGet", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		w := store.Worker{ID: newID(), TenantID: b.tenant.ID, Name: "billing-1", Workflows: []string{"orders", "refunds"}, Slots: 8,
			CreatedAt: at(time1), LastHeartbeatAt: at(2 * time1)}
		noErr(t, b.s.WorkerRegister(b.ctx, w), "RegisterWorker")

		got, err := b.s.WorkerGet(b.ctx, b.tenant.ID, w.ID)
		noErr(t, err, "GetWorker")
		if got.ID != w.ID || got.TenantID != w.TenantID || got.Name != w.Name || !reflect.DeepEqual(got.Workflows, w.Workflows) ||
			got.Slots != 8 || !got.CreatedAt.Equal(w.CreatedAt) || !got.LastHeartbeatAt.Equal(w.LastHeartbeatAt) {
			t.Errorf("GetWorker = %+v, want %+v", got, w)
		}
		other := b.newTenant("globex")
		_, err = b.s.WorkerGet(b.ctx, other.ID, w.ID)
		wantErr(t, err, store.ErrNotFound, "GetWorker(other tenant's)")
		_, err = b.s.WorkerGet(b.ctx, b.tenant.ID, newID())
		wantErr(t, err, store.ErrNotFound, "GetWorker(unknown)")
	})
}

func stepIDs(as []store.Assignment) []string {
	var ids []string
	for _, a := range as {
		ids = append(ids, a.StepRunID)
	}
	sort.Strings(ids)
	return ids
}

func sorted(ids ...string) []string {
	sort.Strings(ids)
	return ids
}

func testClaim(t *testing.T, open Opener) {
	t.Run("OnlyReadyStepsOfListedWorkflowsAndTenantFIFO", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		orders := b.workflow("orders", stepDef("a"), stepDef("b", "a"))
		refunds := b.workflow("refunds", stepDef("r"))
		other := b.newTenant("globex")
		otherWorker := b.newWorker(other.ID, "theirs")
		theirs := b.putWorkflow(other.ID, def("orders", stepDef("a")))

		// Queued oldest to newest: o1, o2, o3; interleaved with other queues.
		o1 := b.startRun(orders, base)
		r1 := b.startRun(refunds, base)
		x1 := b.startRun(theirs, base)
		o2 := b.startRun(orders, at(time1))
		o3 := b.startRun(orders, at(2*time1))

		now := at(3 * time1)
		got := b.claim(now, 2, "orders")
		if want := sorted(o1.Steps[0].ID, o2.Steps[0].ID); !reflect.DeepEqual(stepIDs(got), want) {
			t.Errorf("Claim(orders, max 2) = %v, want the two oldest ready steps %v", stepIDs(got), want)
		}
		got = b.claim(now, 10, "orders")
		if want := sorted(o3.Steps[0].ID); !reflect.DeepEqual(stepIDs(got), want) {
			t.Errorf("Claim(orders) = %v, want only the last ready step %v (no pending steps, no other queues)", stepIDs(got), want)
		}
		if got := b.claim(now, 10, "orders"); len(got) != 0 {
			t.Errorf("Claim(orders) on an empty queue = %v", stepIDs(got))
		}
		if got := b.claim(now, 10, "shipping"); len(got) != 0 {
			t.Errorf("Claim(unknown workflow) = %v", stepIDs(got))
		}
		got = b.claim(now, 10, "shipping", "refunds", "orders")
		if want := sorted(r1.Steps[0].ID); !reflect.DeepEqual(stepIDs(got), want) {
			t.Errorf("Claim(refunds, orders) = %v, want %v", stepIDs(got), want)
		}
		got = b.claimWith(store.ClaimParams{TenantID: other.ID, WorkerID: otherWorker.ID, Workflows: []string{"orders", "refunds"}, Now: now})
		if want := sorted(x1.Steps[0].ID); !reflect.DeepEqual(stepIDs(got), want) {
			t.Errorf("Claim(globex) = %v, want only globex's step %v", stepIDs(got), want)
		}
	})

	t.Run("FIFOAcrossClaims", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		var runs []store.IngestRun
		for i := 0; i < 5; i++ {
			runs = append(runs, b.startRun(wf, at(time.Duration(i)*time1)))
		}
		for i, r := range runs {
			a := b.claimOne(at(10*time1), "orders")
			if a.RunID != r.Run.ID {
				t.Errorf("claim %d got run %s, want run %d (%s): first in, first out", i, a.RunID, i, r.Run.ID)
			}
		}
	})

	t.Run("Assignment", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		b.workflow("orders", stepDef("old"))
		wf := b.workflow("orders", stepDef("a"), stepDef("b", "a"))
		ev := newEvent(b.tenant.ID, "orders.created", base)
		ev.Payload = json.RawMessage(`{"order": {"id": 7}}`)
		run := newRun(wf, ev.ID, ev.Payload, base)
		b.ingest(store.IngestItem{Event: ev, Runs: []store.IngestRun{run}})

		now := at(time1)
		lease := newID()
		as := b.claimWith(store.ClaimParams{Workflows: []string{"orders"}, Max: 5, Now: now, LeaseFor: 10 * time.Second,
			NewLeaseID: func() string { return lease }})
		if len(as) != 1 {
			t.Fatalf("Claim = %d assignments, want 1", len(as))
		}
		a := as[0]
		if a.StepRunID != run.Steps[0].ID || a.LeaseID != lease || a.RunID != run.Run.ID || a.EventID != ev.ID ||
			a.Workflow != "orders" || a.Version != 2 || a.Step != "a" || a.Attempt != 1 || a.MaxAttempts != defaultRetry.MaxAttempts {
			t.Errorf("assignment = %+v, want step a of run %s, version 2, attempt 1 of %d, lease %s", a, run.Run.ID, defaultRetry.MaxAttempts, lease)
		}
		jsonEq(t, a.Input, ev.Payload, "assignment input")
		if len(a.Parents) != 0 {
			t.Errorf("assignment parents = %v, want none", a.Parents)
		}
		if !a.Deadline.Equal(now.Add(defaultTimeout)) {
			t.Errorf("deadline = %s, want claim time + timeout %s", a.Deadline, now.Add(defaultTimeout))
		}
		if !a.LeaseExpiresAt.Equal(now.Add(10 * time.Second)) {
			t.Errorf("lease expires at %s, want claim time + lease %s", a.LeaseExpiresAt, now.Add(10*time.Second))
		}

		st := b.stepRun(run.Run.ID, "a")
		if st.Status != store.StepRunning || st.Attempt != 1 || st.LeaseID != lease || st.WorkerID != b.worker.ID {
			t.Errorf("claimed step-run = status %q attempt %d lease %q worker %q, want running, 1, %s, %s",
				st.Status, st.Attempt, st.LeaseID, st.WorkerID, lease, b.worker.ID)
		}
		wantTime(t, st.StartedAt, now, "step StartedAt")
		wantTime(t, st.DeadlineAt, a.Deadline, "step DeadlineAt")
		wantTime(t, st.LeaseExpiresAt, a.LeaseExpiresAt, "step LeaseExpiresAt")
		r, _ := b.getRun(run.Run.ID)
		if r.Status != store.RunRunning {
			t.Errorf("run status = %q, want running", r.Status)
		}
	})

	t.Run("LeaseNeverPastDeadline", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		short := stepDef("a")
		short.TimeoutMS = 5000
		wf := b.workflow("orders", short)
		b.startRun(wf, base)
		as := b.claimWith(store.ClaimParams{Workflows: []string{"orders"}, Now: base, LeaseFor: time.Minute})
		if len(as) != 1 {
			t.Fatalf("Claim = %d assignments, want 1", len(as))
		}
		if !as[0].Deadline.Equal(at(5 * time.Second)) {
			t.Errorf("deadline = %s, want %s", as[0].Deadline, at(5*time.Second))
		}
		if want := lifecycle.LeaseUntil(base, time.Minute, as[0].Deadline); !as[0].LeaseExpiresAt.Equal(want) {
			t.Errorf("lease expires at %s, want %s (never after the deadline %s)", as[0].LeaseExpiresAt, want, as[0].Deadline)
		}
	})

	t.Run("ConcurrentClaimersNeverShareAStep", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		const steps, claimers = 200, 8
		want := map[string]bool{}
		var items []store.IngestItem
		for i := 0; i < steps; i++ {
			r := newRun(wf, "", json.RawMessage(`{}`), base)
			want[r.Steps[0].ID] = true
			items = append(items, store.IngestItem{Runs: []store.IngestRun{r}})
		}
		b.ingest(items...)
		workers := make([]store.Worker, claimers)
		for i := range workers {
			workers[i] = b.newWorker(b.tenant.ID, fmt.Sprintf("w%d", i))
		}

		got := make([][]store.Assignment, claimers)
		errs := make([]error, claimers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < claimers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				p := b.claimParams(store.ClaimParams{WorkerID: workers[i].ID, Workflows: []string{"orders"}, Max: 7, Now: at(time1)})
				for n := 0; ; n++ {
					if n > steps {
						errs[i] = fmt.Errorf("still claiming after %d calls: the queue does not drain", n)
						return
					}
					as, err := b.s.StepClaim(b.ctx, p)
					if err != nil {
						errs[i] = err
						return
					}
					if len(as) == 0 {
						return
					}
					got[i] = append(got[i], as...)
				}
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			noErr(t, err, fmt.Sprintf("Claim by claimer %d", i))
		}
		if rest := b.claim(at(time1), steps, "orders"); len(rest) != 0 {
			t.Errorf("%d steps left unclaimed after every claimer saw an empty queue", len(rest))
		}

		seen := map[string]int{}
		leases := map[string]bool{}
		for i, as := range got {
			for _, a := range as {
				if prev, dup := seen[a.StepRunID]; dup {
					t.Errorf("step-run %s claimed by claimer %d and claimer %d", a.StepRunID, prev, i)
				}
				seen[a.StepRunID] = i
				if leases[a.LeaseID] {
					t.Errorf("lease %s handed out twice", a.LeaseID)
				}
				leases[a.LeaseID] = true
				if !want[a.StepRunID] {
					t.Errorf("claimed unknown step-run %s", a.StepRunID)
				}
				if a.Attempt != 1 {
					t.Errorf("step-run %s claimed at attempt %d, want 1", a.StepRunID, a.Attempt)
				}
			}
		}
		if len(seen) != steps {
			t.Errorf("claimed %d distinct step-runs, want %d", len(seen), steps)
		}
		// Every step-run is held by the claimer that received it.
		for i, as := range got {
			for _, a := range as {
				st := b.stepRun(a.RunID, "a")
				if st.LeaseID != a.LeaseID || st.WorkerID != workers[i].ID {
					t.Errorf("step-run %s: lease %s worker %s, want lease %s worker %s", a.StepRunID, st.LeaseID, st.WorkerID, a.LeaseID, workers[i].ID)
				}
			}
		}
	})
}

func testFinishSteps(t *testing.T, open Opener) {
	t.Run("DiamondDAG", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", diamond("orders").Steps...)
		run := b.startRun(wf, base)
		key := store.WorkKey{TenantID: b.tenant.ID, Workflow: "orders"}

		a := b.claimOne(at(1*time1), "orders")
		if a.Step != "a" {
			t.Fatalf("first claim = step %s, want a", a.Step)
		}
		if got := b.claim(at(1*time1), 10, "orders"); len(got) != 0 {
			t.Fatalf("claimed %v while a runs: children must wait for their parent", stepIDs(got))
		}
		o := b.succeed(a, at(2*time1), `{"a": 1}`)
		if o.RunID != run.Run.ID || o.RunStatus != store.RunRunning {
			t.Errorf("outcome of a = run %s status %q, want %s running", o.RunID, o.RunStatus, run.Run.ID)
		}
		if q := queuedWork(o); len(q) != 1 || len(q[key]) == 0 || q[key][0] != 2*time1 {
			t.Errorf("outcome of a queued %v, want %v at +2s", q, key)
		}
		b.wantStatus(run.Run.ID, store.RunRunning, map[string]string{
			"a": store.StepSucceeded, "b": store.StepQueued, "c": store.StepQueued, "d": store.StepPending})

		bc := b.claim(at(3*time1), 10, "orders")
		if len(bc) != 2 {
			t.Fatalf("claim after a = %d steps, want b and c", len(bc))
		}
		byStep := map[string]store.Assignment{}
		for _, x := range bc {
			byStep[x.Step] = x
			if len(x.Parents) != 1 {
				t.Errorf("step %s parents = %v, want a's output", x.Step, x.Parents)
			}
			jsonEq(t, x.Parents["a"], json.RawMessage(`{"a": 1}`), "step "+x.Step+" parent a output")
		}
		if _, ok := byStep["b"]; !ok {
			t.Fatalf("claim after a = %v, want b and c", bc)
		}
		if _, ok := byStep["c"]; !ok {
			t.Fatalf("claim after a = %v, want b and c", bc)
		}

		o = b.succeed(byStep["b"], at(4*time1), `{"b": 2}`)
		if len(o.Queued) != 0 || o.RunStatus != store.RunRunning {
			t.Errorf("outcome of b = queued %v status %q, want nothing queued (c still runs), running", o.Queued, o.RunStatus)
		}
		if d := b.stepRun(run.Run.ID, "d"); d.Status != store.StepPending {
			t.Errorf("d = %q after only b succeeded, want pending", d.Status)
		}
		if got := b.claim(at(4*time1), 10, "orders"); len(got) != 0 {
			t.Fatalf("claimed %v before c succeeded: d must wait for both parents", stepIDs(got))
		}

		o = b.succeed(byStep["c"], at(5*time1), `{"c": 3}`)
		if q := queuedWork(o); len(q[key]) == 0 || q[key][0] != 5*time1 {
			t.Errorf("outcome of c queued %v, want %v at +5s", q, key)
		}
		d := b.claimOne(at(6*time1), "orders")
		if d.Step != "d" || len(d.Parents) != 2 {
			t.Fatalf("claim after b and c = step %s parents %v, want d with b's and c's outputs", d.Step, d.Parents)
		}
		jsonEq(t, d.Parents["b"], json.RawMessage(`{"b": 2}`), "d's parent b")
		jsonEq(t, d.Parents["c"], json.RawMessage(`{"c": 3}`), "d's parent c")

		o = b.succeed(d, at(7*time1), `{"d": 4}`)
		if o.RunStatus != store.RunSucceeded || len(o.Queued) != 0 {
			t.Errorf("outcome of d = status %q queued %v, want succeeded, nothing queued", o.RunStatus, o.Queued)
		}
		r, steps := b.getRun(run.Run.ID)
		if r.Status != store.RunSucceeded {
			t.Errorf("run status = %q, want succeeded", r.Status)
		}
		wantTime(t, r.FinishedAt, at(7*time1), "run FinishedAt")
		outputs := map[string]string{"a": `{"a": 1}`, "b": `{"b": 2}`, "c": `{"c": 3}`, "d": `{"d": 4}`}
		for _, st := range steps {
			if st.Status != store.StepSucceeded || st.Attempt != 1 {
				t.Errorf("step %s = %q attempt %d, want succeeded at attempt 1", st.Step, st.Status, st.Attempt)
			}
			jsonEq(t, st.Output, json.RawMessage(outputs[st.Step]), "step "+st.Step+" output")
			if st.FinishedAt == nil {
				t.Errorf("step %s has no FinishedAt", st.Step)
			}
		}
	})

	t.Run("WrongLeaseIsStale", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"), stepDef("b", "a"))
		run := b.startRun(wf, base)
		a := b.claimOne(base, "orders")
		before := b.stepRun(run.Run.ID, "a")

		for _, res := range []store.StepResult{
			{StepRunID: a.StepRunID, LeaseID: newID(), Succeeded: true, Output: json.RawMessage(`{}`), At: at(time1)},
			{StepRunID: a.StepRunID, LeaseID: newID(), Error: "boom", Retryable: false, At: at(time1)},
			{StepRunID: a.StepRunID, LeaseID: "", Succeeded: true, At: at(time1)},
		} {
			o := b.finish(res)
			wantErr(t, o.Err, store.ErrStaleLease, "FinishSteps(wrong lease)")
		}
		after := b.stepRun(run.Run.ID, "a")
		if after.Status != store.StepRunning || after.LeaseID != before.LeaseID || after.Attempt != 1 || len(after.Output) != 0 || after.Error != "" {
			t.Errorf("step after stale results = %+v, want unchanged %+v", after, before)
		}
		b.wantStatus(run.Run.ID, store.RunRunning, map[string]string{"b": store.StepPending})

		b.succeed(a, at(2*time1), `{}`)
		b.wantStatus(run.Run.ID, store.RunRunning, map[string]string{"a": store.StepSucceeded, "b": store.StepQueued})
		// A second report, with the lease just used or with none, is stale too.
		for _, lease := range []string{a.LeaseID, ""} {
			o := b.finish(store.StepResult{StepRunID: a.StepRunID, LeaseID: lease, Error: "late", At: at(2 * time1)})
			wantErr(t, o.Err, store.ErrStaleLease, "FinishSteps(repeated result, lease "+lease+")")
		}
		if st := b.stepRun(run.Run.ID, "a"); st.Status != store.StepSucceeded {
			t.Errorf("step a = %q after a repeated result, want succeeded", st.Status)
		}
	})

	t.Run("StaleAfterExpiryAndReassignment", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		run := b.startRun(wf, base)
		w2 := b.newWorker(b.tenant.ID, "worker-2")

		first := b.claimWith(store.ClaimParams{Workflows: []string{"orders"}, Now: base, LeaseFor: 10 * time.Second})[0]
		if outs := b.expire(at(10*time.Second + ms)); len(outs) != 1 {
			t.Fatalf("ExpireLeases = %d outcomes, want 1", len(outs))
		}
		// Expired but not yet reassigned: the old lease is already stale.
		o := b.finish(store.StepResult{StepRunID: first.StepRunID, LeaseID: first.LeaseID, Succeeded: true, At: at(11 * time.Second)})
		wantErr(t, o.Err, store.ErrStaleLease, "FinishSteps(expired lease)")

		second := b.claimWith(store.ClaimParams{WorkerID: w2.ID, Workflows: []string{"orders"}, Now: at(12 * time.Second)})
		if len(second) != 1 || second[0].LeaseID == first.LeaseID {
			t.Fatalf("re-claim = %+v, want the step with a new lease", second)
		}
		for _, res := range []store.StepResult{
			{StepRunID: first.StepRunID, LeaseID: first.LeaseID, Succeeded: true, Output: json.RawMessage(`{"who": 1}`), At: at(13 * time.Second)},
			{StepRunID: first.StepRunID, LeaseID: first.LeaseID, Error: "boom", At: at(13 * time.Second)},
		} {
			o := b.finish(res)
			wantErr(t, o.Err, store.ErrStaleLease, "FinishSteps(reassigned lease)")
		}
		st := b.stepRun(run.Run.ID, "a")
		if st.Status != store.StepRunning || st.LeaseID != second[0].LeaseID || st.WorkerID != w2.ID {
			t.Errorf("step = %q lease %s worker %s, want running for worker-2's lease", st.Status, st.LeaseID, st.WorkerID)
		}
		o = b.succeed(second[0], at(14*time.Second), `{"who": 2}`)
		if o.RunStatus != store.RunSucceeded {
			t.Errorf("run status = %q, want succeeded", o.RunStatus)
		}
		jsonEq(t, b.stepRun(run.Run.ID, "a").Output, json.RawMessage(`{"who": 2}`), "output")
	})

	t.Run("CompletionAfterDeadlineIsRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		sd := stepDef("a")
		sd.TimeoutMS = 5000
		wf := b.putWorkflow(b.tenant.ID, def("orders", sd))
		run := b.startRun(wf, base)
		a := b.claimOne(base, "orders")

		o := b.finish(store.StepResult{StepRunID: a.StepRunID, LeaseID: a.LeaseID, Succeeded: true, Output: json.RawMessage(`{}`), At: at(5*time.Second + ms)})
		wantErr(t, o.Err, store.ErrStaleLease, "FinishSteps(after the deadline)")
		if st := b.stepRun(run.Run.ID, "a"); st.Status == store.StepSucceeded || len(st.Output) != 0 {
			t.Errorf("step = %q output %s after a refused completion", st.Status, st.Output)
		}
		if r, _ := b.getRun(run.Run.ID); r.Status == store.RunSucceeded {
			t.Error("run succeeded through a completion after its deadline")
		}
	})

	t.Run("RetryAfterBackoff", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		sd := stepDef("a")
		sd.Retry = store.RetryDef{MaxAttempts: 3, InitialBackoffMS: 2000, MaxBackoffMS: 60000, Multiplier: 3}
		wf := b.putWorkflow(b.tenant.ID, def("orders", sd, stepDef("b", "a")))
		run := b.startRun(wf, base)
		key := store.WorkKey{TenantID: b.tenant.ID, Workflow: "orders"}

		now := base
		for attempt := 1; attempt <= 2; attempt++ {
			a := b.claimOne(now, "orders")
			if a.Attempt != attempt {
				t.Fatalf("claim = attempt %d, want %d", a.Attempt, attempt)
			}
			failAt := now.Add(time1)
			msg := fmt.Sprintf("boom %d", attempt)
			o := b.fail(a, failAt, msg, true)
			avail := failAt.Add(lifecycle.Backoff(sd.Retry, attempt))
			if o.RunStatus != store.RunRunning {
				t.Errorf("attempt %d: run status = %q, want running", attempt, o.RunStatus)
			}
			if q := queuedWork(o); len(q) != 1 || len(q[key]) != 1 || q[key][0] != avail.Sub(base) {
				t.Errorf("attempt %d: queued %v, want %v at %s", attempt, q, key, avail.Sub(base))
			}
			st := b.stepRun(run.Run.ID, "a")
			if st.Status != store.StepQueued || st.Attempt != attempt || st.Error != msg {
				t.Errorf("attempt %d: step = %q attempt %d error %q, want queued, %d, %q", attempt, st.Status, st.Attempt, st.Error, attempt, msg)
			}
			if got := b.claim(avail.Add(-ms), 10, "orders"); len(got) != 0 {
				t.Fatalf("attempt %d: claimed before the backoff ended", attempt)
			}
			if ks, err := b.s.StepReadySince(b.ctx, failAt, avail); err != nil || !reflect.DeepEqual(ks, []store.WorkKey{key}) {
				t.Errorf("attempt %d: ReadySince(fail, available] = %v, %v, want [%v]", attempt, ks, err, key)
			}
			now = avail.Add(ms)
		}

		a := b.claimOne(now, "orders")
		if a.Attempt != 3 {
			t.Fatalf("claim = attempt %d, want 3", a.Attempt)
		}
		o := b.fail(a, now.Add(time1), "boom 3", true)
		if o.RunStatus != store.RunFailed || len(o.Queued) != 0 {
			t.Errorf("last attempt failed: run status %q queued %v, want failed and nothing queued", o.RunStatus, o.Queued)
		}
		b.wantStatus(run.Run.ID, store.RunFailed, map[string]string{"a": store.StepFailed, "b": store.StepCancelled})
		if got := b.claim(now.Add(time.Hour), 10, "orders"); len(got) != 0 {
			t.Errorf("claimed %v after the run failed", stepIDs(got))
		}
	})

	t.Run("NotRetryableFailsRunAndCancelsSiblings", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"), stepDef("b"), stepDef("c"), stepDef("d", "a"))
		run := b.startRun(wf, base)
		claimed := b.claim(base, 2, "orders")
		if len(claimed) != 2 {
			t.Fatalf("claimed %d steps, want 2", len(claimed))
		}
		var failing, sibling store.Assignment
		for _, a := range claimed {
			if a.Step == "a" {
				failing = a
			} else {
				sibling = a
			}
		}
		if failing.StepRunID == "" {
			// a was not among the first two; fail whichever was claimed first instead.
			failing, sibling = claimed[0], claimed[1]
		}

		o := b.fail(failing, at(time1), "card declined", false)
		if o.RunStatus != store.RunFailed || len(o.Queued) != 0 {
			t.Errorf("outcome = status %q queued %v, want failed, nothing queued", o.RunStatus, o.Queued)
		}
		r, steps := b.getRun(run.Run.ID)
		if r.Status != store.RunFailed || r.Error == "" {
			t.Errorf("run = %q error %q, want failed with an error", r.Status, r.Error)
		}
		wantTime(t, r.FinishedAt, at(time1), "run FinishedAt")
		for _, st := range steps {
			want := store.StepCancelled
			if st.ID == failing.StepRunID {
				want = store.StepFailed
				if st.Error != "card declined" || st.Attempt != 1 {
					t.Errorf("failed step error %q attempt %d, want %q at attempt 1", st.Error, st.Attempt, "card declined")
				}
			}
			if st.Status != want {
				t.Errorf("step %s = %q, want %q", st.Step, st.Status, want)
			}
		}
		o = b.finish(store.StepResult{StepRunID: sibling.StepRunID, LeaseID: sibling.LeaseID, Succeeded: true, At: at(2 * time1)})
		wantErr(t, o.Err, store.ErrStaleLease, "FinishSteps(cancelled sibling)")
		if got := b.claim(at(time.Hour), 10, "orders"); len(got) != 0 {
			t.Errorf("claimed %v after the run failed", stepIDs(got))
		}
	})

	t.Run("OutOfAttemptsFailsRun", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		sd := stepDef("a")
		sd.Retry.MaxAttempts = 1
		wf := b.putWorkflow(b.tenant.ID, def("orders", sd, stepDef("b", "a")))
		run := b.startRun(wf, base)
		a := b.claimOne(base, "orders")
		if a.MaxAttempts != 1 {
			t.Errorf("assignment MaxAttempts = %d, want 1", a.MaxAttempts)
		}
		o := b.fail(a, at(time1), "boom", true)
		if o.RunStatus != store.RunFailed || len(o.Queued) != 0 {
			t.Errorf("outcome = status %q queued %v, want failed, nothing queued", o.RunStatus, o.Queued)
		}
		b.wantStatus(run.Run.ID, store.RunFailed, map[string]string{"a": store.StepFailed, "b": store.StepCancelled})
	})

	t.Run("OneOutcomePerResult", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		r1, r2, r3 := b.startRun(wf, base), b.startRun(wf, base), b.startRun(wf, base)
		as := b.claim(base, 3, "orders")
		if len(as) != 3 {
			t.Fatalf("claimed %d, want 3", len(as))
		}
		byRun := map[string]store.Assignment{}
		for _, a := range as {
			byRun[a.RunID] = a
		}
		a1, a2, a3 := byRun[r1.Run.ID], byRun[r2.Run.ID], byRun[r3.Run.ID]
		results := []store.StepResult{
			{TenantID: b.tenant.ID, StepRunID: a1.StepRunID, LeaseID: a1.LeaseID, Succeeded: true, Output: json.RawMessage(`{"n":1}`), At: at(time1)},
			{TenantID: b.tenant.ID, StepRunID: a2.StepRunID, LeaseID: newID(), Succeeded: true, At: at(time1)},
			{TenantID: b.tenant.ID, StepRunID: a3.StepRunID, LeaseID: a3.LeaseID, Error: "no", Retryable: false, At: at(time1)},
		}
		outs, err := b.s.StepFinish(b.ctx, results)
		noErr(t, err, "FinishSteps")
		if len(outs) != 3 {
			t.Fatalf("FinishSteps = %d outcomes, want 3", len(outs))
		}
		byStep := map[string]store.FinishOutcome{}
		for _, o := range outs {
			byStep[o.StepRunID] = o
		}
		if o := byStep[a1.StepRunID]; o.Err != nil || o.RunStatus != store.RunSucceeded || o.RunID != r1.Run.ID {
			t.Errorf("outcome 1 = %+v, want run %s succeeded", o, r1.Run.ID)
		}
		if o := byStep[a2.StepRunID]; !errors.Is(o.Err, store.ErrStaleLease) {
			t.Errorf("outcome 2 = %+v, want ErrStaleLease", o)
		}
		if o := byStep[a3.StepRunID]; o.Err != nil || o.RunStatus != store.RunFailed {
			t.Errorf("outcome 3 = %+v, want run failed", o)
		}
		b.wantStatus(r1.Run.ID, store.RunSucceeded, nil)
		b.wantStatus(r2.Run.ID, store.RunRunning, map[string]string{"a": store.StepRunning})
		b.wantStatus(r3.Run.ID, store.RunFailed, nil)
	})

	t.Run("ResultsOfOneBatchSeeEachOther", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"), stepDef("b"))
		run := b.startRun(wf, base)
		as := b.claim(base, 2, "orders")
		if len(as) != 2 {
			t.Fatalf("claimed %d, want 2", len(as))
		}
		first, second := as[0], as[1]
		// The first result fails the run, which cancels the second's step: in the same
		// batch, the second result is stale.
		outs, err := b.s.StepFinish(b.ctx, []store.StepResult{
			{TenantID: b.tenant.ID, StepRunID: first.StepRunID, LeaseID: first.LeaseID, Error: "no", Retryable: false, At: at(time1)},
			{TenantID: b.tenant.ID, StepRunID: second.StepRunID, LeaseID: second.LeaseID, Succeeded: true, Output: json.RawMessage(`{}`), At: at(time1)},
		})
		noErr(t, err, "FinishSteps")
		if len(outs) != 2 || outs[0].Err != nil || outs[0].RunStatus != store.RunFailed {
			t.Fatalf("FinishSteps = %+v, want the first result to fail the run", outs)
		}
		wantErr(t, outs[1].Err, store.ErrStaleLease, "the second result, after the first failed its run")
		r, steps := b.getRun(run.Run.ID)
		if r.Status != store.RunFailed || r.Error != "step "+first.Step+" failed: no" {
			t.Errorf("run = %q error %q, want failed by step %s", r.Status, r.Error, first.Step)
		}
		for _, st := range steps {
			want := map[string]string{first.Step: store.StepFailed, second.Step: store.StepCancelled}[st.Step]
			if st.Status != want || len(st.Output) != 0 {
				t.Errorf("step %s = %q output %s, want %q without output", st.Step, st.Status, st.Output, want)
			}
		}
	})

	t.Run("OtherTenantCannotFinish", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		run := b.startRun(wf, base)
		a := b.claimOne(base, "orders")
		other := b.newTenant("globex")
		outs, err := b.s.StepFinish(b.ctx, []store.StepResult{{TenantID: other.ID, StepRunID: a.StepRunID, LeaseID: a.LeaseID, Succeeded: true, At: at(time1)}})
		noErr(t, err, "FinishSteps")
		if len(outs) != 1 || outs[0].Err == nil {
			t.Errorf("FinishSteps(other tenant) = %+v, want the result refused", outs)
		}
		b.wantStatus(run.Run.ID, store.RunRunning, map[string]string{"a": store.StepRunning})
	})
}

func testHeartbeat(t *testing.T, open Opener) {
	t.Run("ExtendsLeaseUpToDeadline", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a")) // timeout 60s
		run := b.startRun(wf, base)
		a := b.claimWith(store.ClaimParams{Workflows: []string{"orders"}, Now: base, LeaseFor: 10 * time.Second})[0]
		hb := func(now time.Time) {
			t.Helper()
			lost, err := b.s.StepHeartbeat(b.ctx, store.HeartbeatParams{TenantID: b.tenant.ID, WorkerID: b.worker.ID,
				Leases: []store.LeaseRef{{StepRunID: a.StepRunID, LeaseID: a.LeaseID}}, Now: now, LeaseFor: 10 * time.Second})
			noErr(t, err, "Heartbeat")
			if len(lost) != 0 {
				t.Errorf("Heartbeat at %s lost %v, want none", now.Sub(base), lost)
			}
		}

		deadline := at(defaultTimeout)
		hb(at(5 * time.Second))
		wantTime(t, b.stepRun(run.Run.ID, "a").LeaseExpiresAt, lifecycle.LeaseUntil(at(5*time.Second), 10*time.Second, deadline), "lease after heartbeat")
		if outs := b.expire(at(12 * time.Second)); len(outs) != 0 {
			t.Errorf("ExpireLeases after a heartbeat extended the lease = %+v, want nothing", outs)
		}
		w, err := b.s.WorkerGet(b.ctx, b.tenant.ID, b.worker.ID)
		noErr(t, err, "GetWorker")
		if !w.LastHeartbeatAt.Equal(at(5 * time.Second)) {
			t.Errorf("LastHeartbeatAt = %s, want %s", w.LastHeartbeatAt, at(5*time.Second))
		}

		for s := 14; s <= 50; s += 9 { // each before the lease ends
			hb(at(time.Duration(s) * time.Second))
		}
		hb(at(55 * time.Second)) // would extend to 65s, past the 60s deadline
		wantTime(t, b.stepRun(run.Run.ID, "a").LeaseExpiresAt, lifecycle.LeaseUntil(at(55*time.Second), 10*time.Second, deadline),
			"lease after a heartbeat near the deadline")
		outs := b.expire(deadline.Add(ms))
		if len(outs) != 1 || outs[0].StepRunID != a.StepRunID {
			t.Fatalf("ExpireLeases just past the deadline = %+v, want the step timed out", outs)
		}
		o := b.finish(store.StepResult{StepRunID: a.StepRunID, LeaseID: a.LeaseID, Succeeded: true, At: deadline.Add(2 * ms)})
		wantErr(t, o.Err, store.ErrStaleLease, "FinishSteps after the deadline")
	})

	t.Run("ExpiredLeaseIsLost", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		run := b.startRun(wf, base)
		a := b.claimWith(store.ClaimParams{Workflows: []string{"orders"}, Now: base, LeaseFor: 10 * time.Second})[0]
		// Past the lease's end, before any sweeper requeued the step: the sweeper may be
		// requeueing it right now, so the lease is not extended but reported lost.
		lost, err := b.s.StepHeartbeat(b.ctx, store.HeartbeatParams{TenantID: b.tenant.ID, WorkerID: b.worker.ID,
			Leases: []store.LeaseRef{{StepRunID: a.StepRunID, LeaseID: a.LeaseID}}, Now: at(10 * time.Second), LeaseFor: 10 * time.Second})
		noErr(t, err, "Heartbeat")
		if len(lost) != 1 || lost[0] != a.StepRunID {
			t.Errorf("Heartbeat after the lease ended lost %v, want the step-run", lost)
		}
		wantTime(t, b.stepRun(run.Run.ID, "a").LeaseExpiresAt, at(10*time.Second), "lease after a late heartbeat")
		if outs := b.expire(at(10*time.Second + ms)); len(outs) != 1 {
			t.Errorf("ExpireLeases after a late heartbeat = %+v, want the step requeued", outs)
		}
	})

	t.Run("UnknownWorker", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		_, err := b.s.StepHeartbeat(b.ctx, store.HeartbeatParams{TenantID: b.tenant.ID, WorkerID: newID(), Now: base, LeaseFor: time.Second})
		wantErr(t, err, store.ErrNotFound, "Heartbeat(unknown worker)")
		other := b.newTenant("globex")
		_, err = b.s.StepHeartbeat(b.ctx, store.HeartbeatParams{TenantID: other.ID, WorkerID: b.worker.ID, Now: base, LeaseFor: time.Second})
		wantErr(t, err, store.ErrNotFound, "Heartbeat(other tenant's worker)")
	})

	t.Run("ReportsLostLeases", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		kept, wrong, cancelled, moved := b.startRun(wf, base), b.startRun(wf, at(ms)), b.startRun(wf, at(2*ms)), b.startRun(wf, at(3*ms))
		as := b.claimWith(store.ClaimParams{Workflows: []string{"orders"}, Max: 3, Now: at(time1)})
		if len(as) != 3 {
			t.Fatalf("claimed %d, want 3", len(as))
		}
		mv := b.claimWith(store.ClaimParams{Workflows: []string{"orders"}, Max: 1, Now: at(time1), LeaseFor: time.Second})
		if len(mv) != 1 || mv[0].RunID != moved.Run.ID {
			t.Fatalf("claim = %+v, want the fourth run's step", mv)
		}
		byRun := map[string]store.Assignment{}
		for _, a := range append(as, mv...) {
			byRun[a.RunID] = a
		}
		// moved: its lease expires and another worker takes the step.
		if outs := b.expire(at(2*time1 + ms)); len(outs) != 1 {
			t.Fatalf("ExpireLeases = %d outcomes, want 1", len(outs))
		}
		w2 := b.newWorker(b.tenant.ID, "worker-2")
		if re := b.claimWith(store.ClaimParams{WorkerID: w2.ID, Workflows: []string{"orders"}, Now: at(3 * time1)}); len(re) != 1 {
			t.Fatalf("re-claim = %d, want 1", len(re))
		}
		// cancelled: its run is cancelled.
		if _, err := b.s.RunCancel(b.ctx, store.RunCancelParams{TenantID: b.tenant.ID, ID: cancelled.Run.ID, At: at(3 * time1)}); err != nil {
			t.Fatal(err)
		}

		leases := []store.LeaseRef{
			{StepRunID: byRun[kept.Run.ID].StepRunID, LeaseID: byRun[kept.Run.ID].LeaseID},
			{StepRunID: byRun[wrong.Run.ID].StepRunID, LeaseID: newID()},
			{StepRunID: byRun[cancelled.Run.ID].StepRunID, LeaseID: byRun[cancelled.Run.ID].LeaseID},
			{StepRunID: byRun[moved.Run.ID].StepRunID, LeaseID: byRun[moved.Run.ID].LeaseID},
		}
		lost, err := b.s.StepHeartbeat(b.ctx, store.HeartbeatParams{TenantID: b.tenant.ID, WorkerID: b.worker.ID, Leases: leases,
			Now: at(4 * time1), LeaseFor: 30 * time.Second})
		noErr(t, err, "Heartbeat")
		want := sorted(leases[1].StepRunID, leases[2].StepRunID, leases[3].StepRunID)
		if got := sorted(lost...); !reflect.DeepEqual(got, want) {
			t.Errorf("Heartbeat lost = %v, want %v (wrong lease, cancelled run, reassigned)", got, want)
		}
		// The lease still held was extended; the others were not touched.
		wantTime(t, b.stepRun(kept.Run.ID, "a").LeaseExpiresAt, at(4*time1+30*time.Second), "kept lease")
		if st := b.stepRun(moved.Run.ID, "a"); st.WorkerID != w2.ID || st.Status != store.StepRunning {
			t.Errorf("reassigned step = worker %s %q, want still worker-2's", st.WorkerID, st.Status)
		}
		wantTime(t, b.stepRun(wrong.Run.ID, "a").LeaseExpiresAt, at(time1+defaultLeaseFor), "lease named with a wrong id (not extended)")
	})
}

func testExpireLeases(t *testing.T, open Opener) {
	t.Run("LostWorkerRequeuesWithoutUsingAnAttempt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		run := b.startRun(wf, base)
		key := store.WorkKey{TenantID: b.tenant.ID, Workflow: "orders"}
		a := b.claimWith(store.ClaimParams{Workflows: []string{"orders"}, Now: base, LeaseFor: 10 * time.Second})[0]

		if outs := b.expire(at(10*time.Second - ms)); len(outs) != 0 {
			t.Fatalf("ExpireLeases before the lease expired = %+v", outs)
		}
		b.wantStatus(run.Run.ID, store.RunRunning, map[string]string{"a": store.StepRunning})

		now := at(10*time.Second + ms)
		outs := b.expire(now)
		if len(outs) != 1 {
			t.Fatalf("ExpireLeases = %d outcomes, want 1", len(outs))
		}
		o := outs[0]
		if o.Err != nil || o.StepRunID != a.StepRunID || o.RunID != run.Run.ID || o.RunStatus != store.RunRunning {
			t.Errorf("outcome = %+v, want step %s of run %s, running", o, a.StepRunID, run.Run.ID)
		}
		if q := queuedWork(o); len(q[key]) == 0 || q[key][0] > now.Sub(base) {
			t.Errorf("outcome queued %v, want %v available at once", q, key)
		}
		st := b.stepRun(run.Run.ID, "a")
		if st.Status != store.StepQueued || st.LeaseID != "" {
			t.Errorf("step = %q lease %q, want queued without a lease", st.Status, st.LeaseID)
		}
		if outs := b.expire(now); len(outs) != 0 {
			t.Errorf("ExpireLeases twice = %+v, want nothing the second time", outs)
		}

		again := b.claimOne(now, "orders")
		if again.Attempt != a.Attempt || again.LeaseID == a.LeaseID {
			t.Errorf("re-claim = attempt %d lease %s, want the same attempt %d with a new lease", again.Attempt, again.LeaseID, a.Attempt)
		}
	})

	t.Run("TimeoutIsAFailedAttempt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		sd := stepDef("a")
		sd.TimeoutMS = 5000
		sd.Retry = store.RetryDef{MaxAttempts: 2, InitialBackoffMS: 1000, MaxBackoffMS: 1000, Multiplier: 1}
		wf := b.putWorkflow(b.tenant.ID, def("orders", sd, stepDef("b", "a")))
		run := b.startRun(wf, base)
		key := store.WorkKey{TenantID: b.tenant.ID, Workflow: "orders"}
		a := b.claimOne(base, "orders")
		deadline := at(5 * time.Second)

		now := deadline.Add(ms)
		outs := b.expire(now)
		if len(outs) != 1 || outs[0].StepRunID != a.StepRunID || outs[0].RunStatus != store.RunRunning {
			t.Fatalf("ExpireLeases past the deadline = %+v, want the step retried", outs)
		}
		q := outs[0].Queued
		if len(q) != 1 || q[0].WorkKey != key {
			t.Fatalf("outcome queued %v, want %v", q, key)
		}
		avail := q[0].AvailableAt
		if avail.Before(deadline.Add(time.Second)) || avail.After(now.Add(time.Second)) {
			t.Errorf("retry available at %s, want the 1s backoff after the timeout (%s..%s)", avail.Sub(base), 6*time.Second, now.Add(time.Second).Sub(base))
		}
		st := b.stepRun(run.Run.ID, "a")
		if st.Status != store.StepQueued || st.Attempt != 1 || st.Error == "" {
			t.Errorf("step = %q attempt %d error %q, want queued after attempt 1 with a timeout error", st.Status, st.Attempt, st.Error)
		}
		if got := b.claim(now, 10, "orders"); len(got) != 0 {
			t.Errorf("claimed during the backoff: %v", stepIDs(got))
		}

		second := b.claimOne(avail, "orders")
		if second.Attempt != 2 {
			t.Errorf("retry attempt = %d, want 2 (a timeout uses an attempt)", second.Attempt)
		}
		outs = b.expire(second.Deadline.Add(ms))
		if len(outs) != 1 || outs[0].RunStatus != store.RunFailed || len(outs[0].Queued) != 0 {
			t.Fatalf("ExpireLeases past the last attempt's deadline = %+v, want the run failed", outs)
		}
		b.wantStatus(run.Run.ID, store.RunFailed, map[string]string{"a": store.StepFailed, "b": store.StepCancelled})
	})

	t.Run("TooManyLeaseLossesFail", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"), stepDef("b", "a"))
		run := b.startRun(wf, base)
		now := base
		for loss := 1; loss <= lifecycle.MaxLeaseLosses; loss++ {
			a := b.claimWith(store.ClaimParams{Workflows: []string{"orders"}, Now: now, LeaseFor: time.Second})
			if len(a) != 1 {
				t.Fatalf("loss %d: claim = %d steps, want 1", loss, len(a))
			}
			if a[0].Attempt != 1 {
				t.Errorf("loss %d: attempt = %d, want 1 (lease losses are not attempts)", loss, a[0].Attempt)
			}
			now = now.Add(time.Second + ms)
			outs := b.expire(now)
			if len(outs) != 1 {
				t.Fatalf("loss %d: ExpireLeases = %d outcomes, want 1", loss, len(outs))
			}
			if loss < lifecycle.MaxLeaseLosses {
				if outs[0].RunStatus != store.RunRunning {
					t.Fatalf("loss %d: run status = %q, want running", loss, outs[0].RunStatus)
				}
				continue
			}
			if outs[0].RunStatus != store.RunFailed {
				t.Errorf("loss %d (MaxLeaseLosses): run status = %q, want failed", loss, outs[0].RunStatus)
			}
		}
		b.wantStatus(run.Run.ID, store.RunFailed, map[string]string{"a": store.StepFailed, "b": store.StepCancelled})
		if got := b.claim(now.Add(time.Hour), 10, "orders"); len(got) != 0 {
			t.Errorf("claimed %v after the step failed", stepIDs(got))
		}
	})

	t.Run("TwoTimeoutsOfARunWhoseFirstFailsIt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		sa, sb := stepDef("a"), stepDef("b")
		for _, sd := range []*store.StepDef{&sa, &sb} {
			sd.TimeoutMS, sd.Retry.MaxAttempts = 5000, 1
		}
		wf := b.putWorkflow(b.tenant.ID, def("orders", sa, sb))
		run := b.startRun(wf, base)
		if as := b.claim(base, 2, "orders"); len(as) != 2 {
			t.Fatalf("claimed %d, want 2", len(as))
		}
		// Both attempts time out; the first expiry fails the run, which cancels the other
		// step: it is not expired (nor failed, nor its error given to the run) after that.
		outs := b.expire(at(5*time.Second + ms))
		if len(outs) != 1 || outs[0].RunStatus != store.RunFailed {
			t.Fatalf("ExpireLeases = %+v, want one outcome failing the run", outs)
		}
		r, steps := b.getRun(run.Run.ID)
		var failed, cancelled []string
		for _, st := range steps {
			switch st.Status {
			case store.StepFailed:
				failed = append(failed, st.Step)
			case store.StepCancelled:
				cancelled = append(cancelled, st.Step)
			}
		}
		if len(failed) != 1 || len(cancelled) != 1 {
			t.Fatalf("steps failed %v and cancelled %v, want one of each", failed, cancelled)
		}
		if outs[0].StepRunID != b.stepRun(run.Run.ID, failed[0]).ID {
			t.Errorf("the outcome names step-run %s, want the failed step %s's", outs[0].StepRunID, failed[0])
		}
		if want := "step " + failed[0] + " failed: timeout: the step did not finish within 5s"; r.Status != store.RunFailed || r.Error != want {
			t.Errorf("run = %q error %q, want failed with %q", r.Status, r.Error, want)
		}
		if outs := b.expire(at(time.Hour)); len(outs) != 0 {
			t.Errorf("ExpireLeases after the run failed = %+v, want nothing", outs)
		}
	})

	t.Run("Limit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		for i := 0; i < 3; i++ {
			b.startRun(wf, base)
		}
		if as := b.claimWith(store.ClaimParams{Workflows: []string{"orders"}, Now: base, LeaseFor: time.Second}); len(as) != 3 {
			t.Fatalf("claimed %d, want 3", len(as))
		}
		now := at(2 * time.Second)
		seen := map[string]bool{}
		for i, want := range []int{2, 1, 0} {
			outs, err := b.s.StepExpireLeases(b.ctx, now, 2)
			noErr(t, err, "ExpireLeases")
			if len(outs) != want {
				t.Errorf("ExpireLeases call %d (limit 2) = %d outcomes, want %d", i+1, len(outs), want)
			}
			for _, o := range outs {
				if seen[o.StepRunID] {
					t.Errorf("step-run %s expired twice", o.StepRunID)
				}
				seen[o.StepRunID] = true
			}
		}
	})
}

func testCancelRun(t *testing.T, open Opener) {
	t.Run("CancelsQueuedAndRunningSteps", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"), stepDef("b"), stepDef("c", "a", "b"))
		audit := b.workflow("audit", stepDef("log"))
		run := b.startRun(wf, base)
		keep := b.startRun(audit, base)
		a := b.claimOne(at(time1), "orders") // one step of run runs, the other stays queued

		r, err := b.s.RunCancel(b.ctx, store.RunCancelParams{TenantID: b.tenant.ID, ID: run.Run.ID, At: at(2 * time1)})
		noErr(t, err, "CancelRun")
		if r.ID != run.Run.ID || r.Status != store.RunCancelled {
			t.Errorf("CancelRun = %+v, want run %s cancelled", r, run.Run.ID)
		}
		got, steps := b.getRun(run.Run.ID)
		if got.Status != store.RunCancelled {
			t.Errorf("run status = %q, want cancelled", got.Status)
		}
		wantTime(t, got.FinishedAt, at(2*time1), "run FinishedAt")
		for _, st := range steps {
			if st.Status != store.StepCancelled {
				t.Errorf("step %s = %q, want cancelled", st.Step, st.Status)
			}
		}

		// The queued step left the queue: only audit's step is queued.
		if depths, err := b.s.StatsQueueDepths(b.ctx); err != nil || depths[b.tenant.ID] != 1 {
			t.Errorf("queued steps after the cancel = %v, %v, want 1 (audit's)", depths, err)
		}
		if left := b.claim(at(3*time1), 10, "orders"); len(left) != 0 {
			t.Errorf("claimed %v of the cancelled run", stepIDs(left))
		}
		if x := b.claimOne(at(3*time1), "audit"); x.RunID != keep.Run.ID {
			t.Errorf("claimed run %s, want the other run %s", x.RunID, keep.Run.ID)
		}

		for _, lease := range []string{a.LeaseID, ""} {
			o := b.finish(store.StepResult{StepRunID: a.StepRunID, LeaseID: lease, Succeeded: true, At: at(3 * time1)})
			wantErr(t, o.Err, store.ErrStaleLease, "FinishSteps(step of a cancelled run, lease "+lease+")")
		}
		if st := b.stepRun(run.Run.ID, a.Step); st.Status != store.StepCancelled {
			t.Errorf("step %s = %q after a late completion, want cancelled", a.Step, st.Status)
		}
		if r, _ := b.getRun(run.Run.ID); r.Status != store.RunCancelled {
			t.Errorf("run = %q after a late completion, want cancelled", r.Status)
		}
		lost, err := b.s.StepHeartbeat(b.ctx, store.HeartbeatParams{TenantID: b.tenant.ID, WorkerID: b.worker.ID,
			Leases: []store.LeaseRef{{StepRunID: a.StepRunID, LeaseID: a.LeaseID}}, Now: at(3 * time1), LeaseFor: time.Minute})
		noErr(t, err, "Heartbeat")
		if !reflect.DeepEqual(lost, []string{a.StepRunID}) {
			t.Errorf("Heartbeat lost = %v, want the cancelled step %s", lost, a.StepRunID)
		}
		if outs := b.expire(at(time.Hour)); len(outs) != 1 || outs[0].RunID != keep.Run.ID {
			t.Errorf("ExpireLeases = %+v, want only the other run's step (not the cancelled one)", outs)
		}

		runs, err := b.s.RunList(b.ctx, b.tenant.ID, store.RunFilter{Status: store.RunCancelled, Limit: 10})
		noErr(t, err, "ListRuns")
		if len(runs) != 1 || runs[0].ID != run.Run.ID {
			t.Errorf("ListRuns(cancelled) = %+v, want the cancelled run", runs)
		}
		_, err = b.s.RunCancel(b.ctx, store.RunCancelParams{TenantID: b.tenant.ID, ID: run.Run.ID, At: at(4 * time1)})
		wantErr(t, err, store.ErrConflict, "CancelRun(twice)")
	})

	t.Run("EndedRunIsConflict", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		ok, bad := b.startRun(wf, base), b.startRun(wf, at(ms))
		b.succeed(b.claimOne(base, "orders"), at(time1), `{}`)
		b.fail(b.claimOne(at(ms), "orders"), at(time1), "no", false)

		for _, r := range []struct {
			id, status string
		}{{ok.Run.ID, store.RunSucceeded}, {bad.Run.ID, store.RunFailed}} {
			_, err := b.s.RunCancel(b.ctx, store.RunCancelParams{TenantID: b.tenant.ID, ID: r.id, At: at(2 * time1)})
			wantErr(t, err, store.ErrConflict, "CancelRun("+r.status+" run)")
			b.wantStatus(r.id, r.status, nil)
		}
	})

	t.Run("OtherTenantIsNotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		run := b.startRun(wf, base)
		other := b.newTenant("globex")

		_, err := b.s.RunCancel(b.ctx, store.RunCancelParams{TenantID: other.ID, ID: run.Run.ID, At: at(time1)})
		wantErr(t, err, store.ErrNotFound, "CancelRun(other tenant's run)")
		_, err = b.s.RunCancel(b.ctx, store.RunCancelParams{TenantID: b.tenant.ID, ID: newID(), At: at(time1)})
		wantErr(t, err, store.ErrNotFound, "CancelRun(unknown run)")
		b.wantStatus(run.Run.ID, store.RunQueued, map[string]string{"a": store.StepQueued})
		if a := b.claimOne(at(time1), "orders"); a.RunID != run.Run.ID {
			t.Errorf("claimed run %s, want %s", a.RunID, run.Run.ID)
		}
	})
}

func testReadySince(t *testing.T, open Opener) {
	t.Run("NextAvailable", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("globex")
		orders := b.workflow("orders", stepDef("a")) // default retry: 1s backoff
		refunds := b.workflow("refunds", stepDef("r"))
		next := func(tenant string, workflows []string, want time.Duration, queued bool) {
			t.Helper()
			got, ok, err := b.s.StepNextAvailable(b.ctx, tenant, workflows)
			noErr(t, err, "NextAvailable")
			if ok != queued || (queued && !got.Equal(at(want))) {
				t.Errorf("NextAvailable(%v) = %s, %v; want +%s, %v", workflows, got, ok, want, queued)
			}
		}
		next(b.tenant.ID, []string{"orders", "refunds"}, 0, false)
		b.startRun(orders, base)
		next(b.tenant.ID, []string{"orders", "refunds"}, 0, true)
		b.fail(b.claimOne(at(100*ms), "orders"), at(500*ms), "boom", true) // ready again at +1.5s
		b.startRun(refunds, at(3*time1))
		next(b.tenant.ID, []string{"orders", "refunds"}, 1500*ms, true)
		next(b.tenant.ID, []string{"refunds"}, 3*time1, true)
		next(b.tenant.ID, []string{"nope"}, 0, false)
		many := []string{}
		for i := range 600 { // more workflows than SQLite allows terms in a compound SELECT
			many = append(many, fmt.Sprintf("w%d", i))
		}
		next(b.tenant.ID, append(many, "refunds"), 3*time1, true)
		next(other.ID, []string{"orders", "refunds"}, 0, false)
		b.claimWith(store.ClaimParams{TenantID: b.tenant.ID, Workflows: []string{"orders", "refunds"}, Max: 2, Now: at(3 * time1)})
		next(b.tenant.ID, []string{"orders", "refunds"}, 0, false)
	})
	t.Run("QueuesWhoseDeferredStepsBecameReadyInTheWindow", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("globex")
		orders := b.workflow("orders", stepDef("a")) // default retry: 1s backoff
		refunds := b.workflow("refunds", stepDef("r"))
		theirs := b.putWorkflow(other.ID, def("orders", stepDef("a")))
		b.startRun(orders, base)
		b.startRun(refunds, base)
		b.startRun(theirs, base)
		b.startRun(refunds, at(3*time1))                                   // available when queued: its commit wakes the queue
		b.fail(b.claimOne(at(100*ms), "orders"), at(500*ms), "boom", true) // ready again at +1.5s
		b.fail(b.claimOne(at(100*ms), "refunds"), at(time1), "boom", true) // ready again at +2s
		as := b.claimWith(store.ClaimParams{TenantID: other.ID, Workflows: []string{"orders"}, Max: 1, Now: at(100 * ms)})
		if len(as) != 1 {
			t.Fatalf("claimed %d of globex's orders, want 1", len(as))
		}
		b.finish(store.StepResult{TenantID: other.ID, StepRunID: as[0].StepRunID, LeaseID: as[0].LeaseID, Error: "boom",
			Retryable: true, At: at(1500 * ms)}) // ready again at +2.5s

		aOrders := store.WorkKey{TenantID: b.tenant.ID, Workflow: "orders"}
		aRefunds := store.WorkKey{TenantID: b.tenant.ID, Workflow: "refunds"}
		gOrders := store.WorkKey{TenantID: other.ID, Workflow: "orders"}
		ready := func(after, upTo time.Duration, want ...store.WorkKey) {
			t.Helper()
			ks, err := b.s.StepReadySince(b.ctx, at(after), at(upTo))
			noErr(t, err, "ReadySince")
			got := map[store.WorkKey]bool{}
			for _, k := range ks {
				got[k] = true
			}
			w := map[store.WorkKey]bool{}
			for _, k := range want {
				w[k] = true
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("ReadySince(+%s, +%s] = %v, want %v", after, upTo, ks, want)
			}
		}
		ready(-time.Hour, 1500*ms-ms)
		ready(0, 1500*ms, aOrders)
		ready(1500*ms, 2*time1, aRefunds)
		ready(1500*ms, 2*time1-ms)
		ready(2*time1, 2500*ms, gOrders)
		ready(2500*ms, time.Hour)
		ready(-time.Hour, time.Hour, aOrders, aRefunds, gOrders)

		// A claimed step leaves the listing.
		b.claimOne(at(1500*ms), "orders")
		ready(0, 1500*ms)
	})
}

// testForeignIDs passes ids that Herald never makes (not a lowercase UUID), as a client or
// a worker may: they name nothing, whatever the store keys its rows by, and a batch that
// carries one still applies the rest.
func testForeignIDs(t *testing.T, open Opener) {
	b := setup(t, open)
	wf := b.workflow("orders", stepDef("a"))
	run := b.startRun(wf, base)
	a := b.claimOne(at(time1), "orders")
	for _, id := range []string{"nope", strings.ToUpper(run.Run.ID), "'; DROP TABLE runs; --"} {
		_, err := b.s.EventGet(b.ctx, b.tenant.ID, id)
		wantErr(t, err, store.ErrNotFound, "GetEvent("+id+")")
		_, _, err = b.s.RunGet(b.ctx, b.tenant.ID, id)
		wantErr(t, err, store.ErrNotFound, "GetRun("+id+")")
		_, err = b.s.RunCancel(b.ctx, store.RunCancelParams{TenantID: b.tenant.ID, ID: id, At: at(time1)})
		wantErr(t, err, store.ErrNotFound, "CancelRun("+id+")")
		_, err = b.s.RunStepName(b.ctx, store.RunStepNameParams{TenantID: b.tenant.ID, RunID: id})
		wantErr(t, err, store.ErrNotFound, "RunStep("+id+")")
		_, err = b.s.RunStepName(b.ctx, store.RunStepNameParams{TenantID: b.tenant.ID, RunID: run.Run.ID, StepRunID: id})
		wantErr(t, err, store.ErrNotFound, "RunStep(run, "+id+")")
		runs, err := b.s.RunList(b.ctx, b.tenant.ID, store.RunFilter{EventID: id, Limit: 10})
		if err != nil || len(runs) != 0 {
			t.Errorf("ListRuns(event %s) = %d runs, %v; want none", id, len(runs), err)
		}
	}
	lost, err := b.s.StepHeartbeat(b.ctx, store.HeartbeatParams{TenantID: b.tenant.ID, WorkerID: b.worker.ID, Now: at(2 * time1), LeaseFor: time.Minute,
		Leases: []store.LeaseRef{{StepRunID: "nope", LeaseID: a.LeaseID}, {StepRunID: a.StepRunID, LeaseID: a.LeaseID}}})
	noErr(t, err, "Heartbeat")
	if !reflect.DeepEqual(lost, []string{"nope"}) {
		t.Errorf("Heartbeat lost %v, want only the foreign id", lost)
	}
	outs, err := b.s.StepFinish(b.ctx, []store.StepResult{
		{TenantID: b.tenant.ID, StepRunID: "nope", LeaseID: a.LeaseID, Succeeded: true, At: at(3 * time1)},
		{TenantID: b.tenant.ID, StepRunID: a.StepRunID, LeaseID: a.LeaseID, Succeeded: true, Output: json.RawMessage(`{}`), At: at(3 * time1)},
	})
	noErr(t, err, "FinishSteps")
	if len(outs) != 2 || !errors.Is(outs[0].Err, store.ErrNotFound) || outs[1].Err != nil || outs[1].RunStatus != store.RunSucceeded {
		t.Errorf("FinishSteps outcomes = %+v, want not found, then the run succeeded", outs)
	}
}
