package store

import (
	"context"
	"encoding/json"
	"time"
)

// FilterStore keeps runtime trigger filters attached to workflows (docs/triggers.md).
// Every change to filters bumps the workflow change mark (WorkflowChangeMark) and, on a
// shared store, notifies the other replicas like a workflow change, so that every trigger
// index sees it.
type FilterStore interface {
	// FilterCreate inserts f on the tenant's workflow named f.Workflow; ErrNotFound if
	// there is no such workflow. It returns the filter as stored (WorkflowID filled in).
	FilterCreate(ctx context.Context, f Filter) (Filter, error)
	// FilterGet returns one filter of the tenant's workflow.
	FilterGet(ctx context.Context, p FilterRef) (Filter, error)
	// FilterList lists filters of the tenant's workflow, newest first.
	FilterList(ctx context.Context, p FilterListParams) ([]Filter, error)
	// FilterDelete deletes one filter of the tenant's workflow; ErrNotFound if none.
	FilterDelete(ctx context.Context, p FilterRef) error
}

// Filter is a runtime trigger filter: a workflow that has filters is triggered by an
// event only when one of them has the event's scope and its expression is true.
type Filter struct {
	ID         string
	TenantID   string
	WorkflowID string
	// Workflow is the workflow's name.
	Workflow string
	// Scope is the event scope the filter applies to (never empty).
	Scope string
	// Expression is a CEL expression over the event; "" means true.
	Expression string
	// Payload is a JSON object merged over the event payload into the run's input, or nil.
	Payload   json.RawMessage
	CreatedAt time.Time
	// Mark, set by FilterCreate, is the workflows change mark its transaction committed
	// (see Workflow.Mark).
	Mark string
}

// FilterRef names one filter of a tenant's workflow.
type FilterRef struct {
	TenantID string
	// Workflow is the workflow's name.
	Workflow string
	// ID is the filter's id.
	ID string
}

// FilterListParams are the arguments of FilterList: the tenant's workflow, and what
// selects and pages its filters.
type FilterListParams struct {
	TenantID string
	// Workflow is the workflow's name.
	Workflow string
	// Scope, when set, selects the filters of that scope.
	Scope string
	// Before is a cursor: only ids strictly less than it.
	Before string
	Limit  int
}
