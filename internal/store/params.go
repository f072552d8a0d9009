package store

import "time"

// TokenRevokeParams are the arguments of TokenRevoke.
type TokenRevokeParams struct {
	TenantID string
	// ID is the token's id.
	ID string
	// At is when the token is revoked (one revoked before keeps its time).
	At time.Time
}

// WorkflowGetParams are the arguments of WorkflowGet.
type WorkflowGetParams struct {
	TenantID string
	// Name is the workflow's name.
	Name string
	// Version is the version to return; 0 means the current one.
	Version int
}

// WorkflowSetActiveParams are the arguments of WorkflowSetActive.
type WorkflowSetActiveParams struct {
	TenantID string
	// Name is the workflow's name.
	Name string
	// Active enables the workflow (true) or disables it (false).
	Active bool
	// At is the time of the change (the workflow's UpdatedAt).
	At time.Time
}

// RunStepNameParams are the arguments of RunStepName.
type RunStepNameParams struct {
	TenantID string
	// RunID is the run that must exist.
	RunID string
	// StepRunID is the step-run of the run whose step name is returned; "" returns "".
	StepRunID string
}

// RunCancelParams are the arguments of RunCancel.
type RunCancelParams struct {
	TenantID string
	// ID is the run's id.
	ID string
	// At is when the run is cancelled.
	At time.Time
}

// WebhookGetEventParams are the arguments of WebhookGetEvent.
type WebhookGetEventParams struct {
	TenantID string
	// Webhook is the name of the webhook that accepted the event.
	Webhook string
	// DedupeID is the deduplication id the webhook accepted the event with.
	DedupeID string
}

// IdempotencyParams are the arguments of EventGetIdempotent and ScheduledGetIdempotent.
type IdempotencyParams struct {
	TenantID string
	// Key is the idempotency key.
	Key string
	// At is the time of the lookup: a key expired at At is not found.
	At time.Time
}

// DeliveryListParams are the arguments of WebhookDeliveryList.
type DeliveryListParams struct {
	TenantID string
	// WebhookID is the webhook's id (not its name).
	WebhookID string
	// Filter pages the delivery records.
	Filter DeliveryFilter
}

// DeliveryPruneParams are the arguments of WebhookDeliveryPrune.
type DeliveryPruneParams struct {
	TenantID string
	// WebhookID is the webhook's id (not its name).
	WebhookID string
	// Keep is how many of the newest delivery records are kept.
	Keep int
}
