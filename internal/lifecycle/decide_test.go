package lifecycle

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// The tests build runs of one tenant's workflow "orders" at fixed times; each step-run
// is named after its step ("sr-a" is step a).

var t0 = time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

const (
	tenant  = "tenant-1"
	runID   = "run-1"
	timeout = 60 * time.Second
	lease   = 30 * time.Second
)

var (
	retry = store.RetryDef{MaxAttempts: 3, InitialBackoffMS: 1000, MaxBackoffMS: 30000, Multiplier: 2}
	key   = store.WorkKey{TenantID: tenant, Workflow: "orders"}
)

// step is a step-run of run-1 in status, waiting for all its parents when pending.
func step(name, status string, parents ...string) store.StepRun {
	st := store.StepRun{ID: "sr-" + name, TenantID: tenant, RunID: runID, WorkflowName: "orders", Step: name, Parents: parents,
		Status: status, MaxAttempts: retry.MaxAttempts, TimeoutMS: timeout.Milliseconds(), Retry: retry}
	if status == store.StepPending {
		st.PendingParents = len(parents)
	}
	if status == store.StepQueued {
		st.QueuedAt = ptr(t0)
	}
	return st
}

// running is step name running its attempt-th attempt, claimed at t0 with lease
// "lease-<name>".
func running(name string, attempt int, parents ...string) store.StepRun {
	st := step(name, store.StepRunning, parents...)
	st.Attempt, st.LeaseID, st.WorkerID = attempt, "lease-"+name, "worker-1"
	st.QueuedAt, st.StartedAt, st.DeadlineAt, st.LeaseExpiresAt = ptr(t0), ptr(t0), ptr(t0.Add(timeout)), ptr(t0.Add(lease))
	return st
}

// succeeded is step name after its success.
func succeeded(name string, parents ...string) store.StepRun {
	st := step(name, store.StepSucceeded, parents...)
	st.Attempt, st.Output, st.FinishedAt = 1, json.RawMessage(`{}`), ptr(t0)
	return st
}

// run is run-1 in status with steps.
func run(status string, steps ...store.StepRun) RunState {
	return RunState{ID: runID, TenantID: tenant, Status: status, Steps: steps}
}

// write is the write of st's state as read, changed by f.
func write(st store.StepRun, f func(w *StepWrite)) StepWrite {
	w := StepWrite{ID: st.ID, TenantID: st.TenantID, WorkflowName: st.WorkflowName, From: st.Status, Status: st.Status,
		Output: st.Output, Error: st.Error, LeaseID: st.LeaseID, PendingParents: st.PendingParents, Attempt: st.Attempt,
		LeaseLosses: st.LeaseLosses, QueuedAt: st.QueuedAt, FinishedAt: st.FinishedAt}
	f(&w)
	return w
}

// cancelled is the write cancelling st at time t.
func cancelled(st store.StepRun, t time.Time) StepWrite {
	return write(st, func(w *StepWrite) { w.Status, w.FinishedAt, w.LeaseID = store.StepCancelled, ptr(t), "" })
}

func end(status string, errMsg *string, t time.Time) *RunEnd {
	return &RunEnd{ID: runID, Status: status, Error: errMsg, At: t}
}

func str(s string) *string { return &s }

// result is the worker's report on st: its lease, at t.
func result(st store.StepRun, ok bool, t time.Time) store.StepResult {
	r := store.StepResult{TenantID: tenant, StepRunID: st.ID, LeaseID: st.LeaseID, Succeeded: ok, At: t}
	if ok {
		r.Output = json.RawMessage(`{"ok":true}`)
	} else {
		r.Error, r.Retryable = "boom", true
	}
	return r
}

func with(r store.StepResult, f func(r *store.StepResult)) store.StepResult {
	f(&r)
	return r
}

func withStep(st store.StepRun, f func(st *store.StepRun)) store.StepRun {
	f(&st)
	return st
}

func queued(t time.Time) []store.QueuedWork {
	return []store.QueuedWork{{WorkKey: key, AvailableAt: t}}
}

// TestFinish holds one row per rule of a worker's result (rules 1-12 of the step's life).
func TestFinish(t *testing.T) {
	t.Parallel()
	a1 := running("a", 1)
	now := at(5 * time.Second)
	cases := []struct {
		name string
		run  RunState
		res  store.StepResult
		want Change
		out  store.FinishOutcome
	}{
		// Rule 1: a result for a step-run the transaction did not find, or of another
		// tenant, is not found and changes nothing.
		{"unknown step-run", run(store.RunRunning, a1), with(result(a1, true, now), func(r *store.StepResult) { r.StepRunID = "sr-x" }),
			Change{}, store.FinishOutcome{StepRunID: "sr-x", Err: store.ErrNotFound}},
		{"another tenant's step-run", run(store.RunRunning, a1), with(result(a1, true, now), func(r *store.StepResult) { r.TenantID = "tenant-2" }),
			Change{}, store.FinishOutcome{StepRunID: a1.ID, Err: store.ErrNotFound}},
		// Rule 2: a stale lease is refused and changes nothing.
		{"step not running", run(store.RunRunning, withStep(a1, func(st *store.StepRun) { st.Status = store.StepQueued })), result(a1, true, now),
			Change{}, store.FinishOutcome{StepRunID: a1.ID, RunID: runID, Err: store.ErrStaleLease}},
		{"another lease", run(store.RunRunning, a1), with(result(a1, true, now), func(r *store.StepResult) { r.LeaseID = "lease-old" }),
			Change{}, store.FinishOutcome{StepRunID: a1.ID, RunID: runID, Err: store.ErrStaleLease}},
		{"no deadline", run(store.RunRunning, withStep(a1, func(st *store.StepRun) { st.DeadlineAt = nil })), result(a1, true, now),
			Change{}, store.FinishOutcome{StepRunID: a1.ID, RunID: runID, Err: store.ErrStaleLease}},
		{"after the deadline", run(store.RunRunning, a1), result(a1, true, at(timeout+time.Millisecond)),
			Change{}, store.FinishOutcome{StepRunID: a1.ID, RunID: runID, Err: store.ErrStaleLease}},
		// Rules 3, 4 and 6: a success at the deadline still counts; it clears the error of
		// an earlier attempt and the lease, carries the attempt's start, and the last step
		// to succeed ends the run.
		{"success at the deadline ends the run", run(store.RunRunning, withStep(running("a", 2), func(st *store.StepRun) { st.Error = "boom" })),
			result(running("a", 2), true, at(timeout)),
			Change{Steps: []StepWrite{write(running("a", 2), func(w *StepWrite) {
				w.Status, w.Output, w.Error, w.FinishedAt, w.LeaseID = store.StepSucceeded, json.RawMessage(`{"ok":true}`), "", ptr(at(timeout)), ""
			})}, End: end(store.RunSucceeded, nil, at(timeout))},
			store.FinishOutcome{StepRunID: a1.ID, RunID: runID, RunStatus: store.RunSucceeded, StartedAt: t0}},
		// Rule 6: a run that had ended is not ended again.
		{"success in an ended run", run(store.RunFailed, a1), result(a1, true, now),
			Change{Steps: []StepWrite{write(a1, func(w *StepWrite) {
				w.Status, w.Output, w.FinishedAt, w.LeaseID = store.StepSucceeded, json.RawMessage(`{"ok":true}`), ptr(now), ""
			})}},
			store.FinishOutcome{StepRunID: a1.ID, RunID: runID, RunStatus: store.RunSucceeded, StartedAt: t0}},
		// Rule 5: each pending child loses a parent; one with none left is queued, available
		// at once; the run goes on.
		{"success advances the DAG", run(store.RunRunning, a1, step("b", store.StepPending, "a"), step("c", store.StepPending, "a", "d"),
			step("d", store.StepQueued), step("e", store.StepPending, "d")), result(a1, true, now),
			Change{Steps: []StepWrite{
				write(a1, func(w *StepWrite) {
					w.Status, w.Output, w.FinishedAt, w.LeaseID = store.StepSucceeded, json.RawMessage(`{"ok":true}`), ptr(now), ""
				}),
				write(step("b", store.StepPending, "a"), func(w *StepWrite) {
					w.Status, w.PendingParents, w.QueuedAt, w.AvailableAt = store.StepQueued, 0, ptr(now), ptr(now)
				}),
				write(step("c", store.StepPending, "a", "d"), func(w *StepWrite) { w.PendingParents = 1 }),
			}},
			store.FinishOutcome{StepRunID: a1.ID, RunID: runID, RunStatus: store.RunRunning, Queued: queued(now), StartedAt: t0}},
		// Rules 7-9: a retryable failure with attempts left is queued again after the
		// backoff of its attempt (1s after the first, 2s after the second).
		{"retry after the first attempt", run(store.RunRunning, a1, step("b", store.StepPending, "a")), result(a1, false, now),
			Change{Steps: []StepWrite{write(a1, func(w *StepWrite) {
				w.Status, w.Error, w.LeaseID, w.QueuedAt, w.AvailableAt = store.StepQueued, "boom", "", ptr(now), ptr(now.Add(time.Second))
			})}},
			store.FinishOutcome{StepRunID: a1.ID, RunID: runID, RunStatus: store.RunRunning, Queued: queued(now.Add(time.Second)), StartedAt: t0}},
		{"retry after the second attempt", run(store.RunRunning, running("a", 2)), result(running("a", 2), false, now),
			Change{Steps: []StepWrite{write(running("a", 2), func(w *StepWrite) {
				w.Status, w.Error, w.LeaseID, w.QueuedAt, w.AvailableAt = store.StepQueued, "boom", "", ptr(now), ptr(now.Add(2*time.Second))
			})}},
			store.FinishOutcome{StepRunID: a1.ID, RunID: runID, RunStatus: store.RunRunning, Queued: queued(now.Add(2 * time.Second)), StartedAt: t0}},
		// Rules 7 and 10-12: the last attempt's failure fails the step and the run (with the
		// step's error), and cancels every step of it that has not ended.
		{"the last attempt fails the run", run(store.RunRunning, running("a", 3), step("b", store.StepPending, "a"), step("c", store.StepQueued),
			running("d", 1), succeeded("e")), result(running("a", 3), false, now),
			Change{Steps: []StepWrite{
				write(running("a", 3), func(w *StepWrite) {
					w.Status, w.Error, w.FinishedAt, w.LeaseID = store.StepFailed, "boom", ptr(now), ""
				}),
				cancelled(step("b", store.StepPending, "a"), now),
				cancelled(step("c", store.StepQueued), now),
				cancelled(running("d", 1), now),
			}, End: end(store.RunFailed, str("step a failed: boom"), now)},
			store.FinishOutcome{StepRunID: a1.ID, RunID: runID, RunStatus: store.RunFailed, StartedAt: t0}},
		{"a failure not to retry fails the run", run(store.RunRunning, a1), with(result(a1, false, now), func(r *store.StepResult) { r.Retryable = false }),
			Change{Steps: []StepWrite{write(a1, func(w *StepWrite) {
				w.Status, w.Error, w.FinishedAt, w.LeaseID = store.StepFailed, "boom", ptr(now), ""
			})},
				End: end(store.RunFailed, str("step a failed: boom"), now)},
			store.FinishOutcome{StepRunID: a1.ID, RunID: runID, RunStatus: store.RunFailed, StartedAt: t0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, out := Finish(c.run, c.res)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("change:\n got %s\nwant %s", show(got), show(c.want))
			}
			if !sameOutcome(out, c.out) {
				t.Errorf("outcome = %+v, want %+v", out, c.out)
			}
		})
	}
}

// TestExpire holds one row per rule of a lease's expiry (rules 15-19).
func TestExpire(t *testing.T) {
	t.Parallel()
	a1 := running("a", 1)
	lost := at(lease) // the lease's end, before the deadline
	deadline := at(timeout)
	lostAfter := func(losses int) store.StepRun {
		return withStep(a1, func(st *store.StepRun) { st.LeaseLosses = losses })
	}
	cases := []struct {
		name    string
		run     RunState
		now     time.Time
		want    Change
		out     store.FinishOutcome
		expired bool
	}{
		// Rule 15: under the lock, a step that is no longer running, or whose lease a
		// heartbeat extended, is left alone.
		{"not running", run(store.RunRunning, succeeded("a")), deadline, Change{}, store.FinishOutcome{}, false},
		{"lease extended", run(store.RunRunning, a1), lost.Add(-time.Millisecond), Change{}, store.FinishOutcome{}, false},
		{"no lease", run(store.RunRunning, withStep(a1, func(st *store.StepRun) { st.LeaseExpiresAt = nil })), deadline, Change{}, store.FinishOutcome{}, false},
		// Rules 16 and 18: before the deadline the worker was lost: the step is queued again
		// at once, the attempt not counted, the loss counted.
		{"worker lost", run(store.RunRunning, a1), lost,
			Change{Steps: []StepWrite{write(a1, func(w *StepWrite) {
				w.Status, w.Attempt, w.LeaseLosses, w.LeaseID, w.Error, w.QueuedAt, w.AvailableAt =
					store.StepQueued, 0, 1, "", LeaseLostMessage, ptr(lost), ptr(lost)
			})}},
			store.FinishOutcome{StepRunID: a1.ID, RunID: runID, RunStatus: store.RunRunning, Queued: queued(lost)}, true},
		// Rule 17: the MaxLeaseLosses-th loss fails the step for good (attempts left or not).
		{"worker lost one time short of the cap", run(store.RunRunning, lostAfter(MaxLeaseLosses-2)), lost,
			Change{Steps: []StepWrite{write(lostAfter(MaxLeaseLosses-2), func(w *StepWrite) {
				w.Status, w.Attempt, w.LeaseLosses, w.LeaseID, w.Error, w.QueuedAt, w.AvailableAt =
					store.StepQueued, 0, MaxLeaseLosses-1, "", LeaseLostMessage, ptr(lost), ptr(lost)
			})}},
			store.FinishOutcome{StepRunID: a1.ID, RunID: runID, RunStatus: store.RunRunning, Queued: queued(lost)}, true},
		{"worker lost too often", run(store.RunRunning, lostAfter(MaxLeaseLosses-1), step("b", store.StepPending, "a")), lost,
			Change{Steps: []StepWrite{
				write(lostAfter(MaxLeaseLosses-1), func(w *StepWrite) {
					w.Status, w.Error, w.FinishedAt, w.LeaseID = store.StepFailed, "worker lost: the lease expired 10 times", ptr(lost), ""
				}),
				cancelled(step("b", store.StepPending, "a"), lost),
			}, End: end(store.RunFailed, str("step a failed: worker lost: the lease expired 10 times"), lost)},
			store.FinishOutcome{StepRunID: a1.ID, RunID: runID, RunStatus: store.RunFailed}, true},
		// Rules 16 and 19: at the deadline it is a timeout, a failed attempt under the retry
		// policy.
		{"timeout with attempts left", run(store.RunRunning, a1), deadline,
			Change{Steps: []StepWrite{write(a1, func(w *StepWrite) {
				w.Status, w.Error, w.LeaseID, w.QueuedAt, w.AvailableAt =
					store.StepQueued, "timeout: the step did not finish within 1m0s", "", ptr(deadline), ptr(deadline.Add(time.Second))
			})}},
			store.FinishOutcome{StepRunID: a1.ID, RunID: runID, RunStatus: store.RunRunning, Queued: queued(deadline.Add(time.Second))}, true},
		{"timeout of the last attempt", run(store.RunRunning, running("a", 3), step("b", store.StepPending, "a")), deadline,
			Change{Steps: []StepWrite{
				write(running("a", 3), func(w *StepWrite) {
					w.Status, w.Error, w.FinishedAt, w.LeaseID = store.StepFailed, "timeout: the step did not finish within 1m0s", ptr(deadline), ""
				}),
				cancelled(step("b", store.StepPending, "a"), deadline),
			}, End: end(store.RunFailed, str("step a failed: timeout: the step did not finish within 1m0s"), deadline)},
			store.FinishOutcome{StepRunID: a1.ID, RunID: runID, RunStatus: store.RunFailed}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, out, expired := Expire(c.run, a1.ID, c.now)
			if expired != c.expired {
				t.Fatalf("expired = %v, want %v", expired, c.expired)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("change:\n got %s\nwant %s", show(got), show(c.want))
			}
			if !sameOutcome(out, c.out) {
				t.Errorf("outcome = %+v, want %+v", out, c.out)
			}
		})
	}
}

// TestCancel: a run that has not ended is cancelled with its steps that have not ended
// (rules 12-13); an ended one is a conflict naming its status.
func TestCancel(t *testing.T) {
	t.Parallel()
	now := at(time.Minute)
	for _, status := range []string{store.RunQueued, store.RunRunning} {
		r := run(status, succeeded("a"), running("b", 1, "a"), step("c", store.StepQueued), step("d", store.StepPending, "b"))
		row := store.Run{ID: runID, TenantID: tenant, Status: status, Error: ""}
		r.Row = &row
		got, err := Cancel(r, now)
		if err != nil {
			t.Fatalf("cancelling a %s run: %v", status, err)
		}
		want := Change{Steps: []StepWrite{cancelled(running("b", 1, "a"), now), cancelled(step("c", store.StepQueued), now),
			cancelled(step("d", store.StepPending, "b"), now)}, End: end(store.RunCancelled, str(CancelledError), now)}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("cancelling a %s run:\n got %s\nwant %s", status, show(got), show(want))
		}
		if row.Status != store.RunCancelled || row.Error != "cancelled" || row.FinishedAt == nil || !row.FinishedAt.Equal(now) {
			t.Errorf("the cancelled run reads %+v, want cancelled with error \"cancelled\" at %s", row, now)
		}
	}
	for _, status := range []string{store.RunSucceeded, store.RunFailed, store.RunCancelled} {
		got, err := Cancel(run(status, succeeded("a")), now)
		if !errors.Is(err, store.ErrConflict) || err.Error() != "run run-1 already "+status+": conflict" {
			t.Errorf("cancelling a %s run: %v, want the conflict \"run run-1 already %s\"", status, err, status)
		}
		if !reflect.DeepEqual(got, Change{}) {
			t.Errorf("cancelling a %s run wrote %s", status, show(got))
		}
	}
	b := NewBatch([]RunState{run(store.RunRunning, running("a", 1))})
	if err := b.Cancel("run-2", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("cancelling a run not read: %v, want not found", err)
	}
}

// TestBatchResultsSeeEachOther: results applied in one batch see those before them.
func TestBatchResultsSeeEachOther(t *testing.T) {
	t.Parallel()
	now := at(5 * time.Second)
	t.Run("a failure that ends the run makes its sibling's result stale", func(t *testing.T) {
		a, b := running("a", 3), running("b", 1)
		batch := NewBatch([]RunState{run(store.RunRunning, a, b)})
		first := batch.Finish(result(a, false, now))
		second := batch.Finish(result(b, true, now))
		if first.RunStatus != store.RunFailed || !errors.Is(second.Err, store.ErrStaleLease) {
			t.Fatalf("outcomes %+v and %+v, want the run failed, then the sibling's result stale", first, second)
		}
		steps, ends := batch.Writes()
		want := []StepWrite{
			write(a, func(w *StepWrite) {
				w.Status, w.Error, w.FinishedAt, w.LeaseID = store.StepFailed, "boom", ptr(now), ""
			}),
			cancelled(b, now),
		}
		if !reflect.DeepEqual(steps, want) || len(ends) != 1 || ends[0].Status != store.RunFailed {
			t.Errorf("writes %s, ends %+v; want a failed, b cancelled, the run failed once", show(Change{Steps: steps}), ends)
		}
	})
	t.Run("two parents succeeding queue their child once", func(t *testing.T) {
		a, b, c := running("a", 1), running("b", 1), step("c", store.StepPending, "a", "b")
		batch := NewBatch([]RunState{run(store.RunRunning, a, b, c)})
		oa, ob := batch.Finish(result(a, true, now)), batch.Finish(result(b, true, now.Add(time.Second)))
		if len(oa.Queued) != 0 || !reflect.DeepEqual(ob.Queued, queued(now.Add(time.Second))) {
			t.Errorf("queued %v then %v, want nothing then c", oa.Queued, ob.Queued)
		}
		steps, ends := batch.Writes()
		var ids []string
		for _, w := range steps {
			ids = append(ids, w.ID)
		}
		if !reflect.DeepEqual(ids, []string{"sr-a", "sr-c", "sr-b"}) {
			t.Errorf("writes step-runs %v, want each once in the order they first changed (a, c, b)", ids)
		}
		wc := write(c, func(w *StepWrite) {
			w.Status, w.PendingParents, w.QueuedAt, w.AvailableAt = store.StepQueued, 0, ptr(now.Add(time.Second)), ptr(now.Add(time.Second))
		})
		if !reflect.DeepEqual(steps[1], wc) || len(ends) != 0 {
			t.Errorf("c's write %s, ends %+v; want c's last state (queued) and no end", show(Change{Steps: steps[1:2]}), ends)
		}
	})
	t.Run("two expired steps of a run whose first fails it", func(t *testing.T) {
		a, b := running("a", 3), running("b", 3)
		batch := NewBatch([]RunState{run(store.RunRunning, a, b)})
		if o, ok := batch.Expire(a.ID, at(timeout)); !ok || o.RunStatus != store.RunFailed {
			t.Fatalf("first expiry = %+v, %v; want the run failed", o, ok)
		}
		if o, ok := batch.Expire(b.ID, at(timeout)); ok {
			t.Errorf("second expiry = %+v; want the step left alone, its run's failure cancelled it", o)
		}
		if _, ends := batch.Writes(); len(ends) != 1 || *ends[0].Error != "step a failed: timeout: the step did not finish within 1m0s" {
			t.Errorf("run ends %+v, want one, with a's error", ends)
		}
	})
	t.Run("runs end in the order they ended", func(t *testing.T) {
		r1 := run(store.RunRunning, running("a", 1))
		r2 := RunState{ID: "run-2", TenantID: tenant, Status: store.RunRunning, Steps: []store.StepRun{withStep(running("x", 1), func(st *store.StepRun) { st.RunID = "run-2" })}}
		batch := NewBatch([]RunState{r1, r2})
		batch.Finish(result(r2.Steps[0], true, now))
		batch.Finish(result(r1.Steps[0], true, now))
		if _, ends := batch.Writes(); len(ends) != 2 || ends[0].ID != "run-2" || ends[1].ID != runID {
			t.Errorf("ends %+v, want run-2 then run-1", ends)
		}
	})
}

// TestReadyNow: the queues woken at once are those with work available at the change's
// time (rule 20), not later.
func TestReadyNow(t *testing.T) {
	t.Parallel()
	other := store.WorkKey{TenantID: tenant, Workflow: "refunds"}
	o := store.FinishOutcome{Queued: []store.QueuedWork{{WorkKey: key, AvailableAt: t0}, {WorkKey: other, AvailableAt: at(time.Millisecond)},
		{WorkKey: other, AvailableAt: at(-time.Second)}}}
	if got := ReadyNow(o, t0); !reflect.DeepEqual(got, []store.WorkKey{key, other}) {
		t.Errorf("ReadyNow = %v, want orders and the refunds work available before", got)
	}
	if got := ReadyNow(store.FinishOutcome{}, t0); len(got) != 0 {
		t.Errorf("ReadyNow(nothing queued) = %v", got)
	}
}

// TestBackoffGrowsAndCaps: the wait before a retry multiplies with each attempt, up to
// the maximum.
func TestBackoffGrowsAndCaps(t *testing.T) {
	t.Parallel()
	r := store.RetryDef{InitialBackoffMS: 100, MaxBackoffMS: 1000, Multiplier: 3}
	want := []int64{100, 300, 900, 1000, 1000}
	for i, w := range want {
		if got := Backoff(r, i+1).Milliseconds(); got != w {
			t.Fatalf("backoff after attempt %d = %dms, want %d", i+1, got, w)
		}
	}
}

// TestLeaseUntil: a lease lasts leaseFor, never past the deadline (rules 21-22).
func TestLeaseUntil(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		leaseFor, deadline, want time.Duration
	}{{30 * time.Second, time.Minute, 30 * time.Second}, {30 * time.Second, 10 * time.Second, 10 * time.Second}, {time.Second, time.Second, time.Second}} {
		if got := LeaseUntil(t0, c.leaseFor, at(c.deadline)); !got.Equal(at(c.want)) {
			t.Errorf("LeaseUntil(+%s, deadline +%s) = +%s, want +%s", c.leaseFor, c.deadline, got.Sub(t0), c.want)
		}
	}
}

// sameOutcome compares outcomes, their errors by errors.Is.
func sameOutcome(got, want store.FinishOutcome) bool {
	if !errors.Is(got.Err, want.Err) || (got.Err == nil) != (want.Err == nil) {
		return false
	}
	got.Err, want.Err = nil, nil
	return reflect.DeepEqual(got, want)
}

// show prints a change with its times.
func show(c Change) string {
	b, _ := json.MarshalIndent(c, "", "  ")
	return string(b)
}
