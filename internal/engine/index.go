package engine

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/internal/store"
)

// triggerIndex maps (tenant, event key) to the workflows whose triggers match, so that
// matching an event is a map lookup, never a scan of the store.
type triggerIndex struct {
	exact map[string]map[string][]*store.Workflow // tenant -> key -> workflows
}

func buildIndex(wfs []store.Workflow) *triggerIndex {
	ix := &triggerIndex{exact: map[string]map[string][]*store.Workflow{}}
	for i := range wfs {
		wf := &wfs[i]
		keys := ix.exact[wf.TenantID]
		if keys == nil {
			keys = map[string][]*store.Workflow{}
			ix.exact[wf.TenantID] = keys
		}
		for _, t := range wf.Def.Triggers { // NormalizeWorkflow removed duplicates
			keys[t] = append(keys[t], wf)
		}
	}
	return ix
}

// match returns the workflows of a tenant whose triggers match key, each once.
func (ix *triggerIndex) match(tenantID, key string) []*store.Workflow {
	return ix.exact[tenantID][key]
}

// RefreshIndex rebuilds the trigger index from the store. Unless force is set, it first
// checks the store's change mark and skips the rebuild when nothing changed.
func (e *Engine) RefreshIndex(ctx context.Context, force bool) error {
	e.indexMu.Lock()
	defer e.indexMu.Unlock()
	mark, err := e.store.WorkflowsChangeMark(ctx)
	if err != nil {
		return fmt.Errorf("reading workflow change mark: %w", err)
	}
	if !force && mark == e.indexMark {
		return nil
	}
	wfs, err := e.store.ListAllWorkflows(ctx)
	if err != nil {
		return fmt.Errorf("loading trigger index: %w", err)
	}
	e.index.Store(buildIndex(wfs))
	e.indexMark = mark
	return nil
}
