// Package wire is the JSON contract of Herald's HTTP API (/api/v1): the request and
// reply bodies the server decodes and writes (internal/api) and the Go SDK (the root
// package) sends and reads, defined once so the two cannot drift. A type is named after
// its schema in internal/api/openapi.json where it has one; the tests hold each type to
// its schema and to goldens of what the server writes.
//
// The package imports only the standard library, so the SDK that imports it still does.
// The SDK exports several of these types under its own names (aliases), so their field
// comments are the SDK's documentation too.
// In a body the server writes, a field without omitempty is always present (the OpenAPI
// document lists it as required); request bodies leave out what a client did not set.
// The replies that were once written from maps keep their fields in name order, as a
// map is encoded, so the bytes the server writes did not change.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Error is the body of every error reply (schema Error).
type Error struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: a stable code, a message for people and the field
// of the request to blame, if one is.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// List is a page of a listing: {"items": [...], "next_cursor": "..."}. NextCursor is
// absent on the last page.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Status is a reply that only says how things are, {"status": "accepted"} (schemas
// Accepted and Health).
type Status struct {
	Status string `json:"status"`
}

// ---------------------------------------------------------------------------
// Events

// EventPush is one event to push (schema EventPush), alone or in a BulkPush.
type EventPush struct {
	Key                string          `json:"key"`
	Payload            json.RawMessage `json:"payload,omitempty"`
	AdditionalMetadata json.RawMessage `json:"additional_metadata,omitempty"`
	ParentRunID        string          `json:"parent_run_id,omitempty"`
	ParentStepRunID    string          `json:"parent_step_run_id,omitempty"`
	IdempotencyKey     string          `json:"idempotency_key,omitempty"`
	// Scope routes the event to the runtime filters of that scope.
	Scope string `json:"scope,omitempty"`
	// DeliverAt (RFC 3339) or Delay (a Go duration such as "90s") delays the event.
	DeliverAt string `json:"deliver_at,omitempty"`
	Delay     string `json:"delay,omitempty"`
	// DryRun explains what the event would trigger and stores nothing (single push only).
	DryRun bool `json:"dry_run,omitempty"`
}

// BulkPush is the body of POST /events/bulk.
type BulkPush struct {
	Events []EventPush `json:"events"`
}

// BulkReply answers a bulk push (schema BulkReply): one reply per event, in order.
type BulkReply struct {
	Items []PushReply `json:"items"`
}

// TriggerDecision records what happened for one workflow whose trigger matched an
// event: a run started (RunID) or not (Skipped, and Error for a failed expression).
type TriggerDecision struct {
	// Workflow is the name of the matching workflow.
	Workflow string `json:"workflow"`
	// Version is the workflow version considered.
	Version int `json:"version"`
	// RunID is the id of the started run, empty when the trigger was skipped.
	RunID string `json:"run_id,omitempty"`
	// Skipped says why no run was started, empty when one was: "disabled",
	// "scope_mismatch", "expression_false" or "expression_error".
	Skipped string `json:"skipped,omitempty"`
	// Error is the message of a trigger or filter expression that failed on the
	// event.
	Error string `json:"error,omitempty"`
	// FilterID names the runtime filter that let the event through; its payload
	// went into the run's input.
	FilterID string `json:"filter_id,omitempty"`
}

// Event is a stored event (schema Event): delivered, or a delayed event that is
// scheduled, cancelled or failed.
type Event struct {
	ID                 string            `json:"id"`
	Key                string            `json:"key"`
	Payload            json.RawMessage   `json:"payload"`
	AdditionalMetadata json.RawMessage   `json:"additional_metadata,omitempty"`
	Source             string            `json:"source"`
	ParentRunID        string            `json:"parent_run_id,omitempty"`
	ParentStepRunID    string            `json:"parent_step_run_id,omitempty"`
	ParentStep         string            `json:"parent_step,omitempty"`
	Webhook            string            `json:"webhook,omitempty"`
	Scope              string            `json:"scope,omitempty"`
	DedupeID           string            `json:"dedupe_id,omitempty"`
	ReplayOf           string            `json:"replay_of,omitempty"`
	CreatedAt          time.Time         `json:"created_at"`
	Triggers           []TriggerDecision `json:"triggers"`
	// Runs is shown by GET /events/{id} only, always there (an empty list too).
	Runs *[]Run `json:"runs,omitempty"`
	// Status is delivered, or scheduled, cancelled or failed for a delayed event;
	// DeliverAt and DeliveryError belong to those.
	Status        string     `json:"status"`
	DeliverAt     *time.Time `json:"deliver_at,omitempty"`
	DeliveryError string     `json:"delivery_error,omitempty"`
}

// RunRef names a run an event or a manual start began (schema RunRef).
type RunRef struct {
	// Workflow is the name of the run's workflow.
	Workflow string `json:"workflow"`
	// Version is the workflow version the run uses.
	Version int `json:"version"`
	// RunID is the id of the run.
	RunID string `json:"run_id"`
}

// PushReply answers one pushed event (schema PushReply): the stored event and the runs
// it started. Duplicate means the push repeated a live idempotency key: Event and Runs
// are the original's.
type PushReply struct {
	Event     Event    `json:"event"`
	Runs      []RunRef `json:"runs"`
	Duplicate bool     `json:"duplicate"`
}

// Decision says whether a dry-run event would trigger one workflow, and if not why
// (schema Decision).
type Decision struct {
	// Workflow and Version name the workflow's current version.
	Workflow string `json:"workflow"`
	Version  int    `json:"version"`
	// Trigger reports whether a run would start.
	Trigger bool `json:"trigger"`
	// MatchedTriggers lists the workflow's triggers that match the key.
	MatchedTriggers []string `json:"matched_triggers"`
	// Reason says why no run would start: "key_mismatch", "no_triggers", "disabled",
	// "scope_mismatch", "expression_false", "expression_error" or
	// "schema_violation" ("" when one would). docs/triggers.md says when each applies.
	Reason string `json:"reason,omitempty"`
	// Message is the expression error or the schema violation, when there is one.
	Message string `json:"message,omitempty"`
	// FilterID names the runtime filter that would let the event through.
	FilterID string `json:"filter_id,omitempty"`
}

// DryRunReply answers a push with dry_run (schema DryRunReply).
type DryRunReply struct {
	DryRun      bool       `json:"dry_run"`
	Key         string     `json:"key"`
	DuplicateOf string     `json:"duplicate_of,omitempty"`
	Workflows   []Decision `json:"workflows"`
}

// ---------------------------------------------------------------------------
// Runs

// Run is a run (schema Run); Steps is there when one run is read, not in listings.
type Run struct {
	ID         string          `json:"id"`
	Workflow   string          `json:"workflow"`
	Version    int             `json:"version"`
	Status     string          `json:"status"`
	EventID    string          `json:"event_id,omitempty"`
	Input      json.RawMessage `json:"input"`
	Error      string          `json:"error"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	Steps      []StepRun       `json:"steps,omitempty"`
}

// StepRun is the state of one step of a run (schema StepRun).
type StepRun struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Parents     []string        `json:"parents"`
	Status      string          `json:"status"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	WorkerID    string          `json:"worker_id,omitempty"`
	Output      json.RawMessage `json:"output,omitempty"`
	Error       string          `json:"error"`
	QueuedAt    *time.Time      `json:"queued_at"`
	StartedAt   *time.Time      `json:"started_at"`
	FinishedAt  *time.Time      `json:"finished_at"`
}

// RunStart is the body of POST /workflows/{name}/runs: the manual run's input.
type RunStart struct {
	Input json.RawMessage `json:"input,omitempty"`
}

// ---------------------------------------------------------------------------
// Workflows

// Duration is a time.Duration written as a Go duration string ("30s", "1m30s").
type Duration time.Duration

// MarshalJSON writes the duration as time.Duration.String does.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`a duration is a string like "30s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("a duration is a string like \"30s\": %w", err)
	}
	*d = Duration(v)
	return nil
}

// Trigger is one trigger of a workflow (schema Trigger): an event key or pattern and an
// optional CEL expression. Without an expression it is a plain string ("user:*"), the
// form every definition had before expressions existed; with one it is an object
// {"key": "user:*", "expression": "input.amount > 100"}. Both forms are read.
type Trigger struct {
	Key        string `json:"key"`
	Expression string `json:"expression,omitempty"`
}

// MarshalJSON writes the trigger as a string when it has no expression, else as an object.
func (t Trigger) MarshalJSON() ([]byte, error) {
	if t.Expression == "" {
		return json.Marshal(t.Key)
	}
	type plain Trigger
	return json.Marshal(plain(t))
}

// UnmarshalJSON reads a trigger written as a string or as an object with "key" and
// "expression"; other fields in the object are refused.
func (t *Trigger) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var k string
		if err := json.Unmarshal(b, &k); err != nil {
			return err
		}
		*t = Trigger{Key: k}
		return nil
	case len(b) > 0 && b[0] == '{':
		type plain Trigger
		var p plain
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return fmt.Errorf("a trigger is a string or an object {\"key\", \"expression\"}: %w", err)
		}
		*t = Trigger(p)
		return nil
	}
	return fmt.Errorf("a trigger is a string or an object {\"key\", \"expression\"}, not %s", b)
}

// String shows the trigger as people read it: the key, then " if <expression>" when it
// has one.
func (t Trigger) String() string {
	if t.Expression == "" {
		return t.Key
	}
	return t.Key + " if " + t.Expression
}

// Retry is a step's retry policy (schema Retry); zero fields take the engine's defaults.
type Retry struct {
	MaxAttempts    int      `json:"max_attempts,omitempty"`
	InitialBackoff Duration `json:"initial_backoff,omitempty"`
	MaxBackoff     Duration `json:"max_backoff,omitempty"`
	Multiplier     float64  `json:"multiplier,omitempty"`
}

// StepDef is one step of a workflow definition (schema StepDef).
type StepDef struct {
	Name    string   `json:"name"`
	Parents []string `json:"parents,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`
	Retry   Retry    `json:"retry"`
}

// WorkflowDef is the body of PUT /workflows/{name} (schema WorkflowDef).
type WorkflowDef struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Triggers    []Trigger `json:"triggers"`
	Steps       []StepDef `json:"steps"`
}

// Workflow is a stored workflow: its current definition and state (schema Workflow).
type Workflow struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Active      bool      `json:"active"`
	Version     int       `json:"version"`
	Triggers    []Trigger `json:"triggers"`
	Steps       []StepDef `json:"steps"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// PutWorkflowReply answers PUT /workflows/{name} (schema PutWorkflowReply):
// CreatedVersion is false when the definition equals the current version.
type PutWorkflowReply struct {
	CreatedVersion bool     `json:"created_version"`
	Workflow       Workflow `json:"workflow"`
}

// ---------------------------------------------------------------------------
// Tokens and tenants

// Token is an API token without its secret (schema Token). Admin is the field from
// before roles: true for a tenant admin or an operator.
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Tenant    string     `json:"tenant"`
	Role      string     `json:"role"`
	Admin     bool       `json:"admin"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// TokenCreate is the body of POST /tokens (schema TokenCreate). Admin true is role
// "admin", the field from before roles.
type TokenCreate struct {
	Name   string `json:"name"`
	Tenant string `json:"tenant,omitempty"`
	Role   string `json:"role,omitempty"`
	Admin  bool   `json:"admin,omitempty"`
}

// TokenCreated answers POST /tokens (schema TokenCreated); the secret is shown only here.
type TokenCreated struct {
	Secret string `json:"secret"`
	Token  Token  `json:"token"`
}

// Tenant is a tenant (schema Tenant).
type Tenant struct {
	// ID is the tenant's id.
	ID string `json:"id"`
	// Name is the tenant's unique name.
	Name string `json:"name"`
	// CreatedAt is when the tenant was created.
	CreatedAt time.Time `json:"created_at"`
}

// TenantCreate is the body of POST /tenants (schema TenantCreate).
type TenantCreate struct {
	Name string `json:"name"`
}

// ---------------------------------------------------------------------------
// Workers

// WorkerRegister is the body of POST /workers (schema WorkerRegister).
type WorkerRegister struct {
	Name      string   `json:"name"`
	Workflows []string `json:"workflows"`
	Slots     int      `json:"slots"`
}

// WorkerRegistered answers POST /workers (schema WorkerRegistered).
type WorkerRegistered struct {
	HeartbeatInterval Duration `json:"heartbeat_interval"`
	ID                string   `json:"id"`
	LeaseDuration     Duration `json:"lease_duration"`
}

// Poll is the body of POST /workers/{id}/poll (schema Poll): at most Max assignments,
// waiting up to Wait (the server's default when absent) for one.
type Poll struct {
	Max  int       `json:"max"`
	Wait *Duration `json:"wait,omitempty"`
}

// Assignment is a step-run leased to a worker (schema Assignment).
type Assignment struct {
	StepRunID      string                     `json:"step_run_id"`
	LeaseID        string                     `json:"lease_id"`
	RunID          string                     `json:"run_id"`
	Workflow       string                     `json:"workflow"`
	Version        int                        `json:"version"`
	Step           string                     `json:"step"`
	Attempt        int                        `json:"attempt"`
	MaxAttempts    int                        `json:"max_attempts"`
	Input          json.RawMessage            `json:"input"`
	Parents        map[string]json.RawMessage `json:"parents"`
	EventID        string                     `json:"event_id,omitempty"`
	Deadline       time.Time                  `json:"deadline"`
	LeaseExpiresAt time.Time                  `json:"lease_expires_at"`
}

// Assignments answers a poll (schema Assignments); it may be empty.
type Assignments struct {
	Assignments []Assignment `json:"assignments"`
}

// LeaseRef names a step-run and the lease a worker holds on it.
type LeaseRef struct {
	StepRunID string `json:"step_run_id"`
	LeaseID   string `json:"lease_id"`
}

// Heartbeat is the body of POST /workers/{id}/heartbeat (schema Heartbeat).
type Heartbeat struct {
	StepRuns []LeaseRef `json:"step_runs"`
}

// HeartbeatReply answers a heartbeat (schema HeartbeatReply): the leases' new expiry
// and the step-runs whose runs were cancelled.
type HeartbeatReply struct {
	Cancelled      []string  `json:"cancelled"`
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
}

// Complete is the body of a step-run's completion (schema Complete).
type Complete struct {
	LeaseID string          `json:"lease_id"`
	Output  json.RawMessage `json:"output"`
}

// Fail is the body of a step-run's failure (schema Fail); Retryable absent means true.
type Fail struct {
	LeaseID   string `json:"lease_id"`
	Error     string `json:"error"`
	Retryable *bool  `json:"retryable,omitempty"`
}

// ---------------------------------------------------------------------------
// Filters and event schemas

// FilterCreate is the body of POST /workflows/{name}/filters (schema FilterCreate).
type FilterCreate struct {
	Scope      string          `json:"scope"`
	Expression string          `json:"expression,omitempty"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// Filter is a runtime filter of a workflow (schema Filter).
type Filter struct {
	// ID is the filter's id.
	ID string `json:"id"`
	// Workflow is the name of the workflow the filter belongs to.
	Workflow string `json:"workflow"`
	// Scope is the event scope the filter applies to.
	Scope string `json:"scope"`
	// Expression is the filter's CEL condition, empty when it has none.
	Expression string `json:"expression,omitempty"`
	// Payload is the JSON object set over the payload of the events it lets through.
	Payload json.RawMessage `json:"payload,omitempty"`
	// CreatedAt is when the filter was created. When several filters of one scope
	// pass an event, the oldest one's payload is used.
	CreatedAt time.Time `json:"created_at"`
}

// EventSchemaPut is the body of PUT /event-schemas/{key} (schema EventSchemaPut).
type EventSchemaPut struct {
	Schema json.RawMessage `json:"schema"`
}

// EventSchema is the JSON Schema of an event key's payload (schema EventSchema).
type EventSchema struct {
	// Key is the exact event key the schema applies to.
	Key string `json:"key"`
	// Schema is the JSON Schema document (draft 2020-12 unless its $schema says
	// otherwise).
	Schema    json.RawMessage `json:"schema"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// ---------------------------------------------------------------------------
// Webhooks

// WebhookAuth is how a webhook's deliveries authenticate (schema WebhookAuth). A reply
// shows Type and the settings, never Secret, Password or Key.
type WebhookAuth struct {
	Type      string `json:"type"`
	Header    string `json:"header,omitempty"`
	Secret    string `json:"secret,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	Username  string `json:"username,omitempty"`
	Password  string `json:"password,omitempty"`
	Key       string `json:"key,omitempty"`
}

// WebhookSpec is the body of POST /webhooks and PATCH /webhooks/{name} (schemas
// WebhookCreate and WebhookUpdate): an absent field is nil, which an update keeps.
type WebhookSpec struct {
	Name               *string         `json:"name,omitempty"`
	Source             *string         `json:"source,omitempty"`
	Secret             *string         `json:"secret,omitempty"`
	EventKeyExpression *string         `json:"event_key_expression,omitempty"`
	ScopeExpression    *string         `json:"scope_expression,omitempty"`
	DedupeExpression   *string         `json:"dedupe_expression,omitempty"`
	StaticPayload      json.RawMessage `json:"static_payload,omitempty"`
	Auth               *WebhookAuth    `json:"auth,omitempty"`
}

// Webhook is a webhook as the API shows it, never with its secret (schema Webhook).
type Webhook struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	// URL is where the sender must POST deliveries (no token needed).
	URL                string          `json:"url"`
	EventKeyExpression string          `json:"event_key_expression"`
	ScopeExpression    string          `json:"scope_expression,omitempty"`
	DedupeExpression   string          `json:"dedupe_expression,omitempty"`
	StaticPayload      json.RawMessage `json:"static_payload,omitempty"`
	// Auth is the generic source's method, without its secret.
	Auth      *WebhookAuth `json:"auth,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// WebhookDelivery is one request a webhook received and what came of it (schema
// WebhookDelivery).
type WebhookDelivery struct {
	ID         string    `json:"id"`
	ReceivedAt time.Time `json:"received_at"`
	// Verification is "passed", "failed" or "not_checked" (refused before it, such as a
	// body over the limit).
	Verification string `json:"verification"`
	// Outcome is "accepted", "duplicate" (a replay: the original event was answered),
	// "challenge" (Slack's url_verification) or "refused".
	Outcome string `json:"outcome"`
	// StatusCode is the HTTP status the sender got.
	StatusCode int `json:"status_code"`
	// Error says why a delivery was refused.
	Error string `json:"error"`
	// EventID is the event created, or the original one for a duplicate.
	EventID   string `json:"event_id,omitempty"`
	DedupeID  string `json:"dedupe_id,omitempty"`
	BodyBytes int64  `json:"body_bytes"`
}

// WebhookChallenge answers a sender's URL verification (schema WebhookChallenge).
type WebhookChallenge struct {
	Challenge string `json:"challenge"`
}
