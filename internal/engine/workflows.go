package engine

import (
	"context"

	"github.com/heraldhq/herald/internal/store"
)

// PutWorkflow validates and upserts a workflow; a changed definition becomes a new
// version. The trigger index holds it before PutWorkflow returns: the new version is
// applied to the index in place (see changeWorkflow), so registering many workflows does
// not rebuild the index from the store each time.
func (e *Engine) PutWorkflow(ctx context.Context, tenantID string, def store.WorkflowDef) (store.Workflow, bool, error) {
	def, hash, err := NormalizeWorkflow(def)
	if err != nil {
		return store.Workflow{}, false, err
	}
	wf, created, err := e.store.WorkflowPut(ctx, store.PutWorkflowParams{TenantID: tenantID, NewID: NewID(), Def: def, Hash: hash, At: e.now()})
	if err != nil {
		return wf, false, err
	}
	if created {
		e.changeWorkflow(wf)
	}
	return wf, created, nil
}

// SetWorkflowActive enables or disables a workflow and refreshes the trigger index.
func (e *Engine) SetWorkflowActive(ctx context.Context, tenantID, name string, active bool) (store.Workflow, error) {
	wf, err := e.store.WorkflowSetActive(ctx, store.WorkflowSetActiveParams{TenantID: tenantID, Name: name, Active: active, At: e.now()})
	if err != nil {
		return wf, err
	}
	e.refreshAfterCommit(ctx, "workflow enabled or disabled")
	return wf, nil
}

// refreshAfterCommit refreshes the trigger index after a change this engine committed: the
// index is not at the change's mark yet, so the refresh reads what changed. The change is
// stored, so the request that made it succeeded even if the refresh fails (the store just
// failed): the failure is logged and the sweep's refresh catches up.
func (e *Engine) refreshAfterCommit(ctx context.Context, what string) {
	if err := e.RefreshIndex(ctx, false); err != nil {
		e.log.Warn("rebuilding the trigger index after a change", "change", what, "err", err)
	}
}
