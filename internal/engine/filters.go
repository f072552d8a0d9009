package engine

import (
	"context"
	"encoding/json"

	"github.com/heraldhq/herald/internal/store"
)

// MaxFiltersPerScope is the most filters a workflow has for one scope: an event is
// evaluated against every filter of its scope.
const MaxFiltersPerScope = 100

// FilterSpec is a runtime filter as a user gives it (docs/triggers.md).
type FilterSpec struct {
	// Scope is the event scope the filter applies to: required, at most 1024 bytes.
	Scope string
	// Expression is an optional CEL expression over the event (input,
	// additional_metadata, key, scope) that must be true; "" means true.
	Expression string
	// Payload is an optional JSON object merged over the event payload (its keys win)
	// into the input of the runs the filter lets through.
	Payload json.RawMessage
}

// CreateFilter validates a filter and attaches it to the tenant's workflow. This engine's
// trigger index has it before CreateFilter returns (the workflow's filter set is replaced,
// no rebuild); other replicas rebuild theirs on the change mark (at once on PostgreSQL,
// through NOTIFY).
func (e *Engine) CreateFilter(ctx context.Context, tenantID, workflow string, spec FilterSpec) (store.Filter, error) {
	if spec.Scope == "" {
		return store.Filter{}, fieldErr("scope", "must not be empty: a filter applies to the events of one scope")
	}
	if err := ValidateScope("scope", spec.Scope); err != nil {
		return store.Filter{}, err
	}
	if err := CheckText("expression", spec.Expression); err != nil {
		return store.Filter{}, err
	}
	if err := CheckExpression("expression", spec.Expression); err != nil {
		return store.Filter{}, err
	}
	var payload json.RawMessage
	if len(spec.Payload) > 0 && string(spec.Payload) != "null" {
		if len(spec.Payload) > MaxStaticPayloadBytes {
			return store.Filter{}, fieldErr("payload", "is %d bytes; the limit is %d", len(spec.Payload), MaxStaticPayloadBytes)
		}
		obj, err := jsonObject("payload", spec.Payload)
		if err != nil {
			return store.Filter{}, err
		}
		if string(obj) != "{}" {
			payload = obj
		}
	}
	// An event is evaluated against every filter of its scope: a scope's count is capped.
	// (Concurrent creations may pass the check together: the cap is approximate.)
	have, err := e.store.FilterList(ctx, store.FilterListParams{TenantID: tenantID, Workflow: workflow, Scope: spec.Scope, Limit: MaxFiltersPerScope})
	if err != nil {
		return store.Filter{}, err
	}
	if len(have) >= MaxFiltersPerScope {
		return store.Filter{}, fieldErr("scope", "the workflow has %d filters of this scope, the limit; delete one first", len(have))
	}
	f, err := e.store.FilterCreate(ctx, store.Filter{
		ID: NewID(), TenantID: tenantID, Workflow: workflow, Scope: spec.Scope, Expression: spec.Expression,
		Payload: payload, CreatedAt: e.now(),
	})
	if err != nil {
		return f, err
	}
	if !e.changeFilter(f, false) {
		e.refreshAfterCommit(ctx, "filter created")
	}
	return f, nil
}

// DeleteFilter deletes a filter of the tenant's workflow; this engine's trigger index
// drops it before DeleteFilter returns, other replicas on the change mark.
func (e *Engine) DeleteFilter(ctx context.Context, tenantID, workflow, id string) error {
	if err := e.store.FilterDelete(ctx, store.FilterRef{TenantID: tenantID, Workflow: workflow, ID: id}); err != nil {
		return err
	}
	if !e.changeFilter(store.Filter{ID: id, TenantID: tenantID, Workflow: workflow}, true) {
		e.refreshAfterCommit(ctx, "filter deleted")
	}
	return nil
}
