package engine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
)

// TestConcurrentPutsSeeTheirWorkflow: workflows stored concurrently (their index rebuilds
// coalesce) each trigger on the very next push after PutWorkflow returns, and so do
// filters created concurrently.
func TestConcurrentPutsSeeTheirWorkflow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, te triggerEngine) {
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("w%02d", i)
				def := store.WorkflowDef{Name: name, Triggers: store.PlainTriggers("k." + name), Steps: []store.StepDef{{Name: "s"}}}
				if _, _, err := te.eng.PutWorkflow(ctx, te.tenant, def); err != nil {
					errs <- err
					return
				}
				res, err := te.eng.Push(ctx, te.tenant, []engine.EventInput{{Key: "k." + name}}, false)
				if err != nil || len(res[0].Runs) != 1 {
					errs <- fmt.Errorf("%s: push right after PutWorkflow: %v %+v", name, err, res)
					return
				}
				f, err := te.eng.CreateFilter(ctx, te.tenant, name, engine.FilterSpec{Scope: "acme"})
				if err != nil {
					errs <- err
					return
				}
				res, err = te.eng.Push(ctx, te.tenant, []engine.EventInput{{Key: "k." + name, Scope: "acme"}}, false)
				if err != nil || len(res[0].Runs) != 1 || res[0].Event.Triggers[0].FilterID != f.ID {
					errs <- fmt.Errorf("%s: push right after CreateFilter: %v %+v", name, err, res)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}
