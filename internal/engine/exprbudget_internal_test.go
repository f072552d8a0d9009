package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/testkit"
)

// exprEngine returns an engine on st, not started, of cfg (and quiet logs), with tenant
// "default" and n workflows triggered by "cel:x" when `key == "cel:x"`.
func exprEngine(t *testing.T, st store.Store, cfg Config, n int) (*Engine, string) {
	t.Helper()
	e, tenant := quietEngine(t, st, cfg)
	for i := range n {
		def := store.WorkflowDef{Name: fmt.Sprintf("cel-%d", i), Steps: []store.StepDef{{Name: "s"}},
			Triggers: []store.Trigger{{Key: "cel:x", Expression: `key == "cel:x"`}}}
		if _, _, err := e.PutWorkflow(context.Background(), tenant, def); err != nil {
			t.Fatal(err)
		}
	}
	return e, tenant
}

// TestCancelledPushStopsEvaluating: a push whose request is cancelled while its first
// expression runs evaluates none of the others (the evaluator sees one evaluation of
// twenty), answers with the cancellation, and stores nothing.
func TestCancelledPushStopsEvaluating(t *testing.T) {
	testStores(t, func(t *testing.T, st store.Store, _ string) {
		e, tenant := exprEngine(t, st, Config{}, 20)
		e.Start()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var evaluated atomic.Int64
		e.evals.OnSlot(func() {
			evaluated.Add(1)
			cancel()
		})
		_, err := e.Push(ctx, tenant, []EventInput{{Key: "cel:x", ID: "0193a000-0000-7000-8000-000000000001"}}, false)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("push: %v, want the cancellation", err)
		}
		if n := evaluated.Load(); n != 1 {
			t.Fatalf("%d expressions were evaluated; the request was cancelled during the first", n)
		}
		if _, err := st.EventGet(context.Background(), tenant, "0193a000-0000-7000-8000-000000000001"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the cancelled push stored its event: %v", err)
		}
	})
}

// TestEvaluationsWaitForASlot: the engine runs its evaluations on one evaluator of
// Config.ExprSlots slots (GOMAXPROCS by default). With one slot held by a push's
// evaluation, another push's evaluation waits (observed on the evaluator), and gives up
// when its request is cancelled, storing nothing; the first push then completes.
func TestEvaluationsWaitForASlot(t *testing.T) {
	testStores(t, func(t *testing.T, st store.Store, _ string) {
		var c Config
		c.setDefaults()
		if c.ExprSlots != runtime.GOMAXPROCS(0) {
			t.Fatalf("default slots %d, want GOMAXPROCS %d", c.ExprSlots, runtime.GOMAXPROCS(0))
		}
		e, tenant := exprEngine(t, st, Config{ExprSlots: 1}, 1)
		if e.evals.Slots() != 1 {
			t.Fatalf("the engine's evaluator has %d slots; its config says 1", e.evals.Slots())
		}
		e.Start()
		entered, release := make(chan struct{}), make(chan struct{})
		var calls atomic.Int64
		e.evals.OnSlot(func() {
			if calls.Add(1) == 1 {
				entered <- struct{}{}
				<-release
			}
		})
		first := make(chan error, 1)
		go func() {
			res, err := e.Push(context.Background(), tenant, []EventInput{{Key: "cel:x"}}, false)
			if err == nil && len(res[0].Runs) != 1 {
				err = errors.New("the first push started no run")
			}
			first <- err
		}()
		testkit.Receive(t, "the first push's evaluation holds the slot", entered)
		ctx, cancel := context.WithCancel(context.Background())
		second := make(chan error, 1)
		go func() {
			_, err := e.Push(ctx, tenant, []EventInput{{Key: "cel:x", ID: "0193a000-0000-7000-8000-000000000002"}}, false)
			second <- err
		}()
		testkit.Eventually(t, "the second push's evaluation waits for the slot", func() bool { return e.evals.Waiting() == 1 })
		if e.evals.Running() != 1 {
			t.Fatalf("%d evaluations hold a slot; there is one", e.evals.Running())
		}
		cancel()
		if err := testkit.Receive(t, "the second push gives up", second); !errors.Is(err, context.Canceled) {
			t.Fatalf("second push: %v, want the cancellation", err)
		}
		if _, err := st.EventGet(context.Background(), tenant, "0193a000-0000-7000-8000-000000000002"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the cancelled push stored its event: %v", err)
		}
		close(release)
		if err := testkit.Receive(t, "the first push completes", first); err != nil {
			t.Fatal(err)
		}
		if e.evals.Running() != 0 || e.evals.Waiting() != 0 {
			t.Fatalf("after: %d running, %d waiting", e.evals.Running(), e.evals.Waiting())
		}
	})
}
