package api_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testkit"
)

func TestDAGRunsStepsWhenParentsSucceed(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		// Diamond: a → (b, c) → d.
		b.c.putWorkflow(map[string]any{"name": "diamond", "triggers": []string{"go"}, "steps": []any{
			map[string]any{"name": "a"},
			map[string]any{"name": "b", "parents": []string{"a"}},
			map[string]any{"name": "c", "parents": []string{"a"}},
			map[string]any{"name": "d", "parents": []string{"b", "c"}},
		}})
		w := b.c.registerWorker("diamond")
		runID := runIDs(b.c.push("go", map[string]any{"n": 1}))["diamond"]

		a := b.c.pollOne(w)
		if a["step"] != "a" || a["attempt"].(float64) != 1 || a["input"].(map[string]any)["n"].(float64) != 1 {
			t.Fatalf("first assignment = %v", a)
		}
		if as := b.c.poll(w, 5, "0s"); len(as) != 0 {
			t.Fatalf("children dispatched before their parent finished: %v", as)
		}
		b.c.must(200, "POST", fmt.Sprintf("/api/v1/workers/%s/step-runs/%s/complete", w, a["step_run_id"]),
			map[string]any{"lease_id": a["lease_id"], "output": map[string]any{"from": "a"}})

		got := map[string]map[string]any{}
		for len(got) < 2 {
			for _, x := range b.c.poll(w, 5, "2s") {
				got[x["step"].(string)] = x
			}
		}
		if got["b"] == nil || got["c"] == nil {
			t.Fatalf("after a: %v", got)
		}
		if from := got["b"]["parents"].(map[string]any)["a"].(map[string]any)["from"]; from != "a" {
			t.Fatalf("b did not receive a's output: %v", got["b"]["parents"])
		}
		b.c.complete(w, got["b"], map[string]any{"v": "b"})
		if as := b.c.poll(w, 5, "0s"); len(as) != 0 {
			t.Fatalf("d dispatched before c finished: %v", as)
		}
		b.c.complete(w, got["c"], map[string]any{"v": "c"})
		d := b.c.pollOne(w)
		parents := d["parents"].(map[string]any)
		if d["step"] != "d" || len(parents) != 2 || parents["b"].(map[string]any)["v"] != "b" || parents["c"].(map[string]any)["v"] != "c" {
			t.Fatalf("d = %v", d)
		}
		b.c.complete(w, d, nil)
		r := b.c.waitRun(runID, "succeeded")
		for name, s := range steps(r) {
			if s["status"] != "succeeded" || s["worker_id"] != w || s["started_at"] == nil || s["finished_at"] == nil {
				t.Fatalf("step %s = %v", name, s)
			}
		}
		if r["started_at"] == nil || r["finished_at"] == nil {
			t.Fatalf("run timings missing: %v", r)
		}
	})
}

func TestRetryWithBackoffThenSuccess(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("flaky", "k", "s"))
		w := b.c.registerWorker("flaky")
		runID := runIDs(b.c.push("k", nil))["flaky"]
		for attempt := 1; attempt <= 2; attempt++ {
			a := b.c.pollOne(w)
			if a["attempt"].(float64) != float64(attempt) {
				t.Fatalf("attempt %v, want %d", a["attempt"], attempt)
			}
			if r := b.c.fail(w, a, fmt.Sprintf("boom %d", attempt), true); r.status != 200 {
				t.Fatalf("fail: %d %s", r.status, r.body)
			}
			s := steps(b.c.run(runID))["s"]
			if s["status"] != "queued" || s["error"] != fmt.Sprintf("boom %d", attempt) {
				t.Fatalf("after failure %d: %v", attempt, s)
			}
		}
		a := b.c.pollOne(w)
		if a["attempt"].(float64) != 3 {
			t.Fatalf("third attempt = %v", a["attempt"])
		}
		b.c.complete(w, a, map[string]any{"ok": true})
		s := steps(b.c.waitRun(runID, "succeeded"))["s"]
		if s["attempt"].(float64) != 3 || s["error"] != "" {
			t.Fatalf("step = %v", s)
		}
	})
}

func TestExhaustedOrNonRetryableFailureFailsTheRun(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		def := simpleWorkflow("w", "k", "first", "second")
		def["steps"].([]map[string]any)[0]["retry"] = map[string]any{"max_attempts": 2, "initial_backoff": "10ms"}
		b.c.putWorkflow(def)
		w := b.c.registerWorker("w")

		run1 := runIDs(b.c.push("k", nil))["w"]
		b.c.fail(w, b.c.pollOne(w), "e1", true)
		b.c.fail(w, b.c.pollOne(w), "e2", true)
		r := b.c.waitRun(run1, "failed")
		st := steps(r)
		if st["first"]["status"] != "failed" || st["first"]["error"] != "e2" || st["second"]["status"] != "cancelled" {
			t.Fatalf("steps = %v", st)
		}
		if r["error"] == "" {
			t.Fatal("failed run has no error")
		}

		run2 := runIDs(b.c.push("k", nil))["w"]
		b.c.fail(w, b.c.pollOne(w), "bad input", false)
		if s := steps(b.c.waitRun(run2, "failed"))["first"]; s["attempt"].(float64) != 1 {
			t.Fatalf("non-retryable failure was retried: %v", s)
		}
	})
}

func TestWorkerDeathMovesStepToAnotherWorker(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("w", "k", "s"))
		dead := b.c.registerWorker("w")
		alive := b.c.registerWorker("w")
		runID := runIDs(b.c.push("k", nil))["w"]
		a1 := b.c.pollOne(dead)
		// The dead worker never heartbeats. The live one receives the step once the lease expires.
		a2 := b.c.pollOne(alive)
		if a2["step_run_id"] != a1["step_run_id"] || a2["lease_id"] == a1["lease_id"] {
			t.Fatalf("reassignment = %v (first %v)", a2, a1)
		}
		if a2["attempt"] != a1["attempt"] {
			t.Fatalf("a lost worker consumed a retry: attempt %v → %v", a1["attempt"], a2["attempt"])
		}
		// The late completion from the dead worker's lease is refused …
		if r := b.c.complete(dead, a1, map[string]any{"late": true}); r.status != 409 {
			t.Fatalf("stale completion: status %d, want 409: %s", r.status, r.body)
		}
		// … and the live worker's result is the one that counts.
		if r := b.c.complete(alive, a2, map[string]any{"by": "alive"}); r.status != 200 {
			t.Fatalf("completion: %d %s", r.status, r.body)
		}
		s := steps(b.c.waitRun(runID, "succeeded"))["s"]
		if s["output"].(map[string]any)["by"] != "alive" || s["worker_id"] != alive {
			t.Fatalf("step = %v", s)
		}
		// A duplicate delivery of the same completion is refused too.
		if r := b.c.complete(alive, a2, map[string]any{"by": "again"}); r.status != 409 {
			t.Fatalf("duplicate completion: status %d", r.status)
		}
	})
}

func TestHeartbeatKeepsTheLease(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("w", "k", "s"))
		holder := b.c.registerWorker("w")
		other := b.c.registerWorker("w")
		runID := runIDs(b.c.push("k", nil))["w"]
		a := b.c.pollOne(holder)
		lease := []any{map[string]any{"step_run_id": a["step_run_id"], "lease_id": a["lease_id"]}}
		// Heartbeat for twice the lease duration while the other worker polls.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := time.NewTicker(400 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
					b.c.must(200, "POST", "/api/v1/workers/"+holder+"/heartbeat", map[string]any{"step_runs": lease})
				}
			}
		}()
		stolen := b.c.poll(other, 1, "4s")
		close(stop)
		wg.Wait()
		if len(stolen) != 0 {
			t.Fatalf("a heartbeating worker lost its step: %v", stolen)
		}
		if r := b.c.complete(holder, a, nil); r.status != 200 {
			t.Fatalf("completion after heartbeats: %d %s", r.status, r.body)
		}
		b.c.waitRun(runID, "succeeded")
		// Unknown worker: 404.
		if r := b.c.do("POST", "/api/v1/workers/nope/heartbeat", map[string]any{}); r.status != 404 {
			t.Fatalf("unknown worker heartbeat: %d", r.status)
		}
	})
}

func TestStepTimeoutFailsTheAttempt(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(map[string]any{"name": "slow", "triggers": []string{"k"}, "steps": []any{
			map[string]any{"name": "s", "timeout": "1s", "retry": map[string]any{"max_attempts": 2, "initial_backoff": "10ms"}},
		}})
		w := b.c.registerWorker("slow")
		runID := runIDs(b.c.push("k", nil))["slow"]
		a1 := b.c.pollOne(w)
		lease := []any{map[string]any{"step_run_id": a1["step_run_id"], "lease_id": a1["lease_id"]}}
		// Heartbeats cannot extend a step past its deadline.
		hb := b.c.must(200, "POST", "/api/v1/workers/"+w+"/heartbeat", map[string]any{"step_runs": lease})
		if len(hb["cancelled"].([]any)) != 0 {
			t.Fatalf("heartbeat = %v", hb)
		}
		a2 := b.c.pollOne(w)
		if a2["step_run_id"] != a1["step_run_id"] || a2["attempt"].(float64) != 2 {
			t.Fatalf("after timeout = %v", a2)
		}
		if r := b.c.complete(w, a1, nil); r.status != 409 {
			t.Fatalf("completion after timeout: %d", r.status)
		}
		hb = b.c.must(200, "POST", "/api/v1/workers/"+w+"/heartbeat", map[string]any{"step_runs": lease})
		if c := hb["cancelled"].([]any); len(c) != 1 || c[0] != a1["step_run_id"] {
			t.Fatalf("heartbeat after timeout = %v", hb)
		}
		if s := steps(b.c.run(runID))["s"]; s["status"] != "running" {
			t.Fatalf("step = %v", s)
		}
		// The second attempt times out too: the run fails with a timeout error.
		r := b.c.waitRun(runID, "failed")
		if s := steps(r)["s"]; s["status"] != "failed" || s["error"] == "" {
			t.Fatalf("step = %v", s)
		}
	})
}

func TestCancelRun(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("w", "k", "a", "b"))
		w := b.c.registerWorker("w")
		runID := runIDs(b.c.push("k", nil))["w"]
		a := b.c.pollOne(w)
		r := b.c.must(200, "POST", "/api/v1/runs/"+runID+"/cancel", nil)
		if r["status"] != "cancelled" {
			t.Fatalf("cancel = %v", r)
		}
		for name, s := range steps(r) {
			if s["status"] != "cancelled" {
				t.Fatalf("step %s = %v", name, s)
			}
		}
		lease := []any{map[string]any{"step_run_id": a["step_run_id"], "lease_id": a["lease_id"]}}
		hb := b.c.must(200, "POST", "/api/v1/workers/"+w+"/heartbeat", map[string]any{"step_runs": lease})
		if c := hb["cancelled"].([]any); len(c) != 1 {
			t.Fatalf("heartbeat does not report the cancelled step: %v", hb)
		}
		if r := b.c.complete(w, a, nil); r.status != 409 {
			t.Fatalf("completion of a cancelled step: %d", r.status)
		}
		if r := b.c.do("POST", "/api/v1/runs/"+runID+"/cancel", nil); r.status != 409 {
			t.Fatalf("second cancel: %d", r.status)
		}
		if as := b.c.poll(w, 5, "0s"); len(as) != 0 {
			t.Fatalf("cancelled run dispatched: %v", as)
		}
		// A queued (not yet started) run can be cancelled too and is never dispatched.
		queued := runIDs(b.c.push("k", nil))["w"]
		b.c.must(200, "POST", "/api/v1/runs/"+queued+"/cancel", nil)
		if as := b.c.poll(w, 5, "0s"); len(as) != 0 {
			t.Fatalf("cancelled queued run dispatched: %v", as)
		}
		if r := b.c.do("POST", "/api/v1/runs/nope/cancel", nil); r.status != 404 {
			t.Fatalf("cancel unknown: %d", r.status)
		}
	})
}

func TestLongPollWakesWhenWorkArrives(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("w", "k", "s"))
		w := b.c.registerWorker("w")
		got := make(chan []map[string]any, 1)
		go func() { got <- b.c.poll(w, 1, "30s") }()
		// Once the poll has parked (nothing to claim), one push must wake it.
		b.env.WaitParked(t, w)
		testkit.Quiet(t, "the poll with nothing queued", got)
		started := time.Now()
		b.c.push("k", nil)
		as := testkit.Receive(t, "the long poll's reply", got)
		if len(as) != 1 {
			t.Fatalf("poll returned %v", as)
		}
		if d := time.Since(started); d > 10*time.Second {
			t.Fatalf("long-poll returned %s after the push: it was not woken", d)
		}
	})
}

func TestEventChainingRecordsLineage(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("parent", "order:placed", "charge"))
		b.c.putWorkflow(simpleWorkflow("child", "order:charged", "ship"))
		w := b.c.registerWorker("parent", "child")
		parentRun := runIDs(b.c.push("order:placed", map[string]any{"order": 7}))["parent"]
		a := b.c.pollOne(w)
		p := b.c.must(201, "POST", "/api/v1/events", map[string]any{
			"key": "order:charged", "payload": map[string]any{"order": 7},
			"parent_run_id": a["run_id"], "parent_step_run_id": a["step_run_id"],
		})
		b.c.complete(w, a, nil)
		ev := b.c.must(200, "GET", "/api/v1/events/"+p["event"].(map[string]any)["id"].(string), nil)
		if ev["source"] != "run" || ev["parent_run_id"] != parentRun || ev["parent_step_run_id"] != a["step_run_id"] || ev["parent_step"] != "charge" {
			t.Fatalf("lineage = %v", ev)
		}
		if runs := ev["runs"].([]any); len(runs) != 1 || runs[0].(map[string]any)["workflow"] != "child" {
			t.Fatalf("chained event runs = %v", runs)
		}
		// A step-run id that does not belong to the run is refused.
		r := b.c.do("POST", "/api/v1/events", map[string]any{"key": "order:charged", "parent_run_id": parentRun, "parent_step_run_id": "nope"})
		if r.status != 400 {
			t.Fatalf("bad lineage: %d", r.status)
		}
		// A step-run without its run is refused, naming parent_run_id (in a bulk push, the
		// event's); nothing is stored.
		before := len(items(b.c.must(200, "GET", "/api/v1/events", nil)))
		r = b.c.do("POST", "/api/v1/events", map[string]any{"key": "order:charged", "parent_step_run_id": a["step_run_id"]})
		if code, field := r.errCodeField(t); r.status != 400 || code != "invalid_argument" || field != "parent_run_id" ||
			!strings.Contains(string(r.body), "is required with parent_step_run_id") {
			t.Fatalf("step-run without its run: %d %s", r.status, r.body)
		}
		r = b.c.do("POST", "/api/v1/events/bulk", map[string]any{"events": []any{
			map[string]any{"key": "order:charged"},
			map[string]any{"key": "order:charged", "parent_step_run_id": a["step_run_id"]},
		}})
		if _, field := r.errCodeField(t); r.status != 400 || field != "events[1].parent_run_id" {
			t.Fatalf("bulk step-run without its run: %d %s", r.status, r.body)
		}
		if n := len(items(b.c.must(200, "GET", "/api/v1/events", nil))); n != before {
			t.Fatalf("%d events stored after refused pushes, want %d", n, before)
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		a := b.c // tenant default (admin)
		a.putWorkflow(simpleWorkflow("secret-flow", "k", "s"))
		pa := a.push("k", map[string]any{"secret": true})
		evA := pa["event"].(map[string]any)["id"].(string)
		runA := runIDs(pa)["secret-flow"]

		a.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "acme"})
		if r := a.do("POST", "/api/v1/tenants", map[string]any{"name": "acme"}); r.status != 409 {
			t.Fatalf("duplicate tenant: %d", r.status)
		}
		secretB := a.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "acme-token", "tenant": "acme"})["secret"].(string)
		tb := a.with(secretB)

		// B sees nothing of A.
		for _, path := range []string{"/api/v1/events/" + evA, "/api/v1/runs/" + runA, "/api/v1/workflows/secret-flow"} {
			if r := tb.do("GET", path, nil); r.status != 404 {
				t.Fatalf("B GET %s: %d, want 404", path, r.status)
			}
		}
		for _, path := range []string{"/api/v1/events", "/api/v1/runs", "/api/v1/workflows", "/api/v1/tokens"} {
			if n := len(items(tb.must(200, "GET", path, nil))); n != 0 && path != "/api/v1/tokens" {
				t.Fatalf("B lists %d items at %s", n, path)
			}
		}
		if toks := items(tb.must(200, "GET", "/api/v1/tokens", nil)); len(toks) != 1 || toks[0]["tenant"] != "acme" {
			t.Fatalf("B's tokens = %v", toks)
		}
		// B cannot cancel, run, toggle or trigger A's things.
		if r := tb.do("POST", "/api/v1/runs/"+runA+"/cancel", nil); r.status != 404 {
			t.Fatalf("B cancel: %d", r.status)
		}
		if r := tb.do("POST", "/api/v1/workflows/secret-flow/runs", nil); r.status != 404 {
			t.Fatalf("B manual run: %d", r.status)
		}
		if r := tb.do("POST", "/api/v1/workflows/secret-flow/disable", nil); r.status != 404 {
			t.Fatalf("B disable: %d", r.status)
		}
		if p := tb.push("k", nil); len(p["runs"].([]any)) != 0 {
			t.Fatalf("B's event triggered A's workflow: %v", p)
		}
		if r := tb.do("POST", "/api/v1/events", map[string]any{"key": "k", "parent_run_id": runA}); r.status != 400 {
			t.Fatalf("B chained from A's run: %d", r.status)
		}
		if r := tb.do("POST", "/api/v1/workers", map[string]any{"workflows": []string{"secret-flow"}}); r.status != 400 {
			t.Fatalf("B registered a worker for A's workflow: %d", r.status)
		}
		// B's worker, even for a same-named workflow, never receives A's steps; nor can it
		// report on them.
		tb.putWorkflow(simpleWorkflow("secret-flow", "other", "s"))
		wb := tb.registerWorker("secret-flow")
		if as := tb.poll(wb, 5, "0s"); len(as) != 0 {
			t.Fatalf("B's worker got A's steps: %v", as)
		}
		wa := a.registerWorker("secret-flow")
		asg := a.pollOne(wa)
		if r := tb.complete(wb, asg, nil); r.status != 404 && r.status != 409 {
			t.Fatalf("B completed A's step: %d", r.status)
		}
		if r := tb.complete(wa, asg, nil); r.status != 404 {
			t.Fatalf("B used A's worker: %d", r.status)
		}
		if r := tb.do("POST", "/api/v1/workers/"+wa+"/poll", map[string]any{"wait": "0s"}); r.status != 404 {
			t.Fatalf("B polled as A's worker: %d", r.status)
		}
		if s := steps(a.run(runA))["s"]; s["status"] != "running" {
			t.Fatalf("A's step changed: %v", s)
		}
		// B is not an admin.
		if r := tb.do("POST", "/api/v1/tenants", map[string]any{"name": "evil"}); r.status != 403 {
			t.Fatalf("B created a tenant: %d", r.status)
		}
		if r := tb.do("POST", "/api/v1/tokens", map[string]any{"name": "x", "tenant": "default"}); r.status != 403 {
			t.Fatalf("B made a token for A: %d", r.status)
		}
		tenants := items(a.must(200, "GET", "/api/v1/tenants", nil))
		if len(tenants) != 2 {
			t.Fatalf("tenants = %v", tenants)
		}
	})
}

// TestFailureReportsAndStaleLeases pins what docs/api.md and docs/worker-protocol.md say:
// a failure message is not refused for its length (it is cut to 8 KiB), only a body over
// the completion's limit is (413, nothing changed), and a report on a lease that is no
// longer the worker's answers 409 with the code stale_lease.
func TestFailureReportsAndStaleLeases(t *testing.T) {
	// The lease must outlast the test's reports (a megabyte body under -race on a loaded
	// machine took longer than the default 2 s lease, and the step was requeued).
	forEachStoreWith(t, testenv.Options{LeaseDuration: time.Minute}, func(t *testing.T, b *bundle) {
		def := simpleWorkflow("w", "k", "s")
		def["steps"].([]map[string]any)[0]["retry"] = map[string]any{"max_attempts": 1}
		b.c.putWorkflow(def)
		w := b.c.registerWorker("w")
		runID := runIDs(b.c.push("k", nil))["w"]
		a := b.c.pollOne(w)
		failPath := fmt.Sprintf("/api/v1/workers/%s/step-runs/%s/fail", w, a["step_run_id"])

		// A body over the limit is refused and changes nothing: the lease is still ours.
		huge := map[string]any{"lease_id": a["lease_id"], "error": strings.Repeat("x", 1<<20+4096)}
		r := b.c.do("POST", failPath, huge)
		if code, _ := r.errCodeField(t); r.status != 413 || code != "payload_too_large" {
			t.Fatalf("fail with a body over the limit: %d %s, want 413 payload_too_large", r.status, r.body)
		}
		if s := steps(b.c.run(runID))["s"]; s["status"] != "running" {
			t.Fatalf("after a refused report the step is %v, want running", s["status"])
		}

		// A long stack trace (here 100 KiB, more than the other worker routes take) is
		// accepted and kept to 8 KiB.
		trace := strings.Repeat("at frame(file.go:1)\n", 100<<10/20)
		if r := b.c.fail(w, a, trace, false); r.status != 200 {
			t.Fatalf("fail with a %d-byte message: %d %s, want 200", len(trace), r.status, r.body)
		}
		st := steps(b.c.waitRun(runID, "failed"))["s"]
		if msg, _ := st["error"].(string); len(msg) != 8192 || !strings.HasPrefix(trace, msg) {
			t.Fatalf("stored message has %d bytes, want the first 8192 of the report", len(msg))
		}

		// The lease is spent: another report on it is a stale lease.
		for _, r := range []resp{b.c.fail(w, a, "again", true), b.c.complete(w, a, map[string]any{})} {
			code, field := r.errCodeField(t)
			if r.status != 409 || code != "stale_lease" || field != "lease_id" {
				t.Errorf("report on a spent lease: %d %s, want 409 stale_lease on lease_id", r.status, r.body)
			}
		}
	})
}
