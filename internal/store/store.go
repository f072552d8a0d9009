// Package store defines Herald's storage seam: the one interface every store implements
// (SQLite embedded, PostgreSQL), with the row types it speaks in.
//
// Store methods take the tenant explicitly and filter every query by it; an id of another
// tenant is reported as ErrNotFound. Writes that must be atomic (an event with the runs it
// triggers, a step completion with the steps it unblocks) are single methods so that each
// implementation runs them in one transaction.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Sentinel errors returned by every store implementation.
var (
	// ErrNotFound is returned when a row does not exist or belongs to another tenant.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a unique name is taken or a state change is not allowed.
	ErrConflict = errors.New("conflict")
	// ErrStaleLease is returned when a completion, failure or heartbeat carries a lease that
	// is no longer current.
	ErrStaleLease = errors.New("stale lease")
	// ErrUnavailable is returned when the store cannot commit right now (locked, down).
	ErrUnavailable = errors.New("store unavailable")
	// ErrSchemaTooNew is returned at open when the database was migrated by a newer Herald.
	ErrSchemaTooNew = errors.New("database schema is newer than this herald")
)

// Run statuses.
const (
	RunQueued    = "queued"
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
	RunCancelled = "cancelled"
)

// Step-run statuses.
const (
	StepPending   = "pending"
	StepQueued    = "queued"
	StepRunning   = "running"
	StepSucceeded = "succeeded"
	StepFailed    = "failed"
	StepCancelled = "cancelled"
)

// Event sources.
const (
	SourceAPI     = "api"
	SourceRun     = "run"
	SourceWebhook = "webhook"
	// SourceReplay marks an event that replays a stored one (Event.ReplayOf names it).
	SourceReplay = "replay"
)

// ParallelWriter is implemented by stores whose write transactions run in parallel
// (PostgreSQL: one backend process each) rather than one at a time (SQLite's single
// writer). WriteParallelism is how many group commits the engine should run at once.
type ParallelWriter interface {
	WriteParallelism() int
}

// Store is the storage seam. Every method is safe for concurrent use.
//
// Tenant isolation is the store's to keep: a method that reads or writes one tenant's rows
// takes the tenant (an argument, or a TenantID field of its parameters or of every item it
// is given) and filters every statement by it, so an id of another tenant is ErrNotFound.
// These methods are deliberately cross-tenant, and each says why:
//
//   - resolving a caller before the tenant is known: TokenGetByHash (a bearer token),
//     SessionGet (a dashboard cookie), SessionDelete (signing out by the cookie's hash),
//     TenantGet and TenantGetByName (the tenant a principal or sign-in names);
//   - the operator's view of the server: TenantCreate, TenantList, StatsQueueDepths (the
//     server-wide metrics);
//   - the engine's own duties, which serve every tenant: WorkflowChangeMark and
//     WorkflowChanges (the trigger index of all tenants), SchemaListAll and
//     SchemaChangeMark (the schema cache), StepExpireLeases and StepReadySince (the lease
//     sweeper), Prune and ScheduledPrune (retention), ScheduledClaim, ScheduledRelease,
//     ScheduledNext and ScheduledFail (delayed-event delivery; each claimed row carries its
//     tenant), and the outbox relay's OutboxClaim, OutboxRelease and OutboxReject (the Outbox interface of a store that has one).
//
// Whatever such a method returns carries each row's tenant, and the engine acts on a row
// only as that tenant.
type Store interface {
	// ScheduleStore keeps delayed events until they are due (scheduled.go).
	ScheduleStore
	// FilterStore keeps runtime trigger filters (filters.go).
	FilterStore
	// SchemaStore keeps payload JSON Schemas per event key (schemas.go).
	SchemaStore

	// Close releases the store's connections.
	Close() error

	// TenantCreate inserts a tenant; ErrConflict if the name is taken.
	TenantCreate(ctx context.Context, t Tenant) error
	// TenantGetByName returns a tenant by name.
	TenantGetByName(ctx context.Context, name string) (Tenant, error)
	// TenantGet returns a tenant by id.
	TenantGet(ctx context.Context, id string) (Tenant, error)
	// TenantList lists all tenants by name.
	TenantList(ctx context.Context) ([]Tenant, error)

	// TokenCreate inserts an API token (its hash only).
	TokenCreate(ctx context.Context, t Token) error
	// TokenGetByHash finds a live (not revoked) token by the SHA-256 of its secret.
	TokenGetByHash(ctx context.Context, hash []byte) (Token, error)
	// TokenGet returns a token of the tenant by id, revoked or not.
	TokenGet(ctx context.Context, tenantID, id string) (Token, error)
	// TokenList lists a tenant's tokens, revoked ones included.
	TokenList(ctx context.Context, tenantID string) ([]Token, error)
	// TokenRevoke marks a token revoked.
	TokenRevoke(ctx context.Context, p TokenRevokeParams) error

	// WorkflowPut upserts a workflow by name; when def's hash differs from the current
	// version's, a new version is created and made current. created reports that.
	WorkflowPut(ctx context.Context, p PutWorkflowParams) (wf Workflow, created bool, err error)
	// WorkflowGet returns a workflow with its current version (p.Version 0) or the given
	// one.
	WorkflowGet(ctx context.Context, p WorkflowGetParams) (Workflow, error)
	// WorkflowList lists a tenant's workflows with their current versions.
	WorkflowList(ctx context.Context, tenantID string) ([]Workflow, error)
	// WorkflowSetActive enables or disables a workflow.
	WorkflowSetActive(ctx context.Context, p WorkflowSetActiveParams) (Workflow, error)
	// WorkflowChangeMark returns a value that changes whenever any workflow changes, so a
	// replica can tell cheaply that its trigger index is stale.
	WorkflowChangeMark(ctx context.Context) (string, error)
	// WorkflowChanges returns what a trigger index at change mark since needs to catch
	// up, read from one snapshot: the mark it brings the index to, the current versions
	// of every tenant's workflows changed after since (given a new version, enabled or
	// disabled, or with a filter created or deleted), ordered by tenant and name, and all
	// the filters of those workflows, oldest first. since "" means everything: the whole
	// index. A mark that is not one of this store's fails.
	WorkflowChanges(ctx context.Context, since string) (WorkflowChangeSet, error)

	// EventInsert commits, in one transaction, every item's event (if any), runs and step-runs,
	// queueing the steps that are ready. Either all items commit or none does.
	EventInsert(ctx context.Context, items []IngestItem) error
	// RunStepName checks that a run of the tenant exists and returns the step name of its
	// step-run p.StepRunID (empty when p.StepRunID is empty); ErrNotFound otherwise.
	RunStepName(ctx context.Context, p RunStepNameParams) (step string, err error)

	// EventGet returns one event.
	EventGet(ctx context.Context, tenantID, id string) (Event, error)
	// EventList lists events newest first.
	EventList(ctx context.Context, tenantID string, f EventFilter) ([]Event, error)

	// RunGet returns a run with its step-runs in definition order.
	RunGet(ctx context.Context, tenantID, id string) (Run, []StepRun, error)
	// RunList lists runs newest first.
	RunList(ctx context.Context, tenantID string, f RunFilter) ([]Run, error)
	// RunCancel cancels a run that has not ended; ErrConflict if it has.
	RunCancel(ctx context.Context, p RunCancelParams) (Run, error)

	// WorkerRegister inserts a worker.
	WorkerRegister(ctx context.Context, w Worker) error
	// WorkerGet returns a worker.
	WorkerGet(ctx context.Context, tenantID, id string) (Worker, error)
	// StepClaim leases up to p.Max ready step-runs of the given workflows to a worker.
	StepClaim(ctx context.Context, p ClaimParams) ([]Assignment, error)
	// StepHeartbeat marks a worker alive and extends the listed leases (never past their
	// deadline). It returns the step-run ids whose leases are no longer the worker's: taken
	// from it, or expired at p.Now (the sweeper may be requeueing the step that moment).
	StepHeartbeat(ctx context.Context, p HeartbeatParams) (lost []string, err error)
	// StepFinish records step results (success or failure) in one transaction. Each
	// result gets its own outcome; a stale lease is reported as ErrStaleLease in Err.
	StepFinish(ctx context.Context, results []StepResult) ([]FinishOutcome, error)
	// StepExpireLeases handles up to limit running step-runs whose lease expired at now:
	// past the deadline it is a timeout (retry policy applies), otherwise the worker was
	// lost and the step is queued again at once.
	StepExpireLeases(ctx context.Context, now time.Time, limit int) ([]FinishOutcome, error)
	// StepReadySince lists the (tenant, workflow) pairs with queued steps whose availability
	// was deferred past their queueing and came in (after, upTo]: retries whose backoff
	// ended. Steps available when queued are not listed: their commit wakes their queue.
	StepReadySince(ctx context.Context, after, upTo time.Time) ([]WorkKey, error)
	// StepNextAvailable returns when the earliest queued step-run of the tenant's workflows is
	// available (it may be past: a step taken meanwhile, or one a claim is about to
	// take), and false when none is queued.
	StepNextAvailable(ctx context.Context, tenantID string, workflows []string) (time.Time, bool, error)

	// WebhookCreate inserts a webhook; ErrConflict if the tenant has one of that name.
	WebhookCreate(ctx context.Context, w Webhook) error
	// WebhookGet returns a tenant's webhook by name.
	WebhookGet(ctx context.Context, tenantID, name string) (Webhook, error)
	// WebhookList lists a tenant's webhooks by name.
	WebhookList(ctx context.Context, tenantID string) ([]Webhook, error)
	// WebhookUpdate replaces every field of the webhook with w's id (its tenant, id, name
	// and created_at stay); ErrNotFound if there is none.
	WebhookUpdate(ctx context.Context, w Webhook) error
	// WebhookDelete deletes a webhook and its delivery log. The events it created stay,
	// with their deduplication ids.
	WebhookDelete(ctx context.Context, tenantID, name string) error
	// WebhookGetEvent returns the event that the tenant's webhook named p.Webhook accepted
	// with deduplication id p.DedupeID.
	WebhookGetEvent(ctx context.Context, p WebhookGetEventParams) (Event, error)
	// EventGetIdempotent returns the event holding the tenant's idempotency key, if the
	// key has not expired at time p.At; ErrNotFound otherwise.
	EventGetIdempotent(ctx context.Context, p IdempotencyParams) (Event, error)
	// WebhookDeliveryList lists a webhook's delivery records newest first.
	WebhookDeliveryList(ctx context.Context, p DeliveryListParams) ([]WebhookDelivery, error)
	// WebhookDeliveryPrune deletes all but the newest p.Keep delivery records of a webhook
	// and returns how many it deleted.
	WebhookDeliveryPrune(ctx context.Context, p DeliveryPruneParams) (int, error)

	// StatsWorkflows summarizes, per workflow, the runs of the tenant created at or after
	// since: counts by outcome and duration percentiles (see the WorkflowStats type).
	StatsWorkflows(ctx context.Context, tenantID string, since time.Time) ([]WorkflowStats, error)
	// StatsActivity returns the tenant's activity in [p.Since, p.Until) in buckets of p.Bucket:
	// events by source, runs by status, and run start latency percentiles.
	StatsActivity(ctx context.Context, p ActivityParams) (Activity, error)
	// StatsQueueDepths counts each tenant's queued step-runs (ready, or waiting for a retry's
	// backoff); tenants with none are absent.
	StatsQueueDepths(ctx context.Context) (map[string]int, error)
	// Prune deletes, in short transactions, up to p.Limit rows of each kind created before
	// p.Before: events, ended runs with their step-runs, and webhook delivery records; and
	// every dashboard session expired at p.Now. Safe to call from several replicas at once.
	// Rows are found oldest first along their ids, which are UUIDv7 of their creation time
	// (see TimeID): a row whose id is more than a second newer than its created_at is pruned
	// only once the id's time is old enough too.
	Prune(ctx context.Context, p PruneParams) (PruneResult, error)

	// SessionCreate inserts a dashboard session.
	SessionCreate(ctx context.Context, s Session) error
	// SessionGet returns the session with that id hash if it has not expired at now and
	// its token is not revoked; ErrNotFound otherwise.
	SessionGet(ctx context.Context, hash []byte, now time.Time) (Session, error)
	// SessionDelete deletes a session (signing out); deleting a missing one is no error.
	SessionDelete(ctx context.Context, hash []byte) error
}

// Tenant is an isolated namespace of data.
type Tenant struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Token is an API token; only the SHA-256 of its secret is stored.
type Token struct {
	ID         string
	TenantID   string
	TenantName string
	Name       string
	Hash       []byte
	Role       Role
	CreatedAt  time.Time
	RevokedAt  *time.Time
}

// Role is what a token may do; docs/api.md ("Roles") has the whole table.
type Role string

// The roles, from the most to the least powerful.
const (
	// RoleOperator runs the server: it creates and lists tenants, manages the tokens of
	// every tenant and reads the server-wide metrics, besides what a tenant admin may do
	// in its own tenant. The token created at first start is one.
	RoleOperator Role = "operator"
	// RoleAdmin administers its own tenant: it manages the tenant's tokens (but not its
	// operator tokens), besides what a member may do.
	RoleAdmin Role = "admin"
	// RoleMember is the everyday token of producers, workers and the dashboard: it works
	// with its tenant's events, runs, workflows, filters, schemas and webhooks.
	RoleMember Role = "member"
)

// RetryDef is a step's retry policy (lifecycle.Backoff computes its waits).
type RetryDef struct {
	MaxAttempts      int     `json:"max_attempts"`
	InitialBackoffMS int64   `json:"initial_backoff_ms"`
	MaxBackoffMS     int64   `json:"max_backoff_ms"`
	Multiplier       float64 `json:"multiplier"`
}

// StepDef is one step of a workflow definition.
type StepDef struct {
	Name      string   `json:"name"`
	Parents   []string `json:"parents"`
	TimeoutMS int64    `json:"timeout_ms"`
	Retry     RetryDef `json:"retry"`
}

// WorkflowDef is a normalized workflow definition (defaults applied, validated).
type WorkflowDef struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Triggers    []Trigger `json:"triggers"`
	Steps       []StepDef `json:"steps"`
}

// PutWorkflowParams are the arguments of WorkflowPut.
type PutWorkflowParams struct {
	TenantID string
	// NewID is used if the workflow does not exist yet.
	NewID string
	Def   WorkflowDef
	// Hash identifies the definition's content; equal hashes mean no new version.
	Hash string
	At   time.Time
}

// Workflow is a workflow with one of its versions.
type Workflow struct {
	ID        string
	TenantID  string
	Name      string
	Active    bool
	Version   int
	Def       WorkflowDef
	CreatedAt time.Time
	UpdatedAt time.Time
	// Mark, set by WorkflowPut when it created a version, is the workflows change mark
	// (WorkflowChangeMark) its transaction committed: the mark before it was Mark - 1, so
	// an engine whose index was at that mark is up to date once it applied this version.
	// Other reads give the mark of the workflow's last change (to it or to its filters).
	Mark string
}

// WorkflowVersionDecision decides what WorkflowPut does with a definition whose content
// hash is newHash, given the workflow's current version and its hash as read (found is
// false for a new name): skip when the hash is unchanged (no new version); otherwise the
// definition becomes version next, of a workflow to insert first when insert is set.
func WorkflowVersionDecision(found bool, version int, curHash, newHash string) (next int, insert, skip bool) {
	switch {
	case !found:
		return 1, true, false
	case curHash == newHash:
		return version, false, true
	}
	return version + 1, false, false
}

// WorkflowChangeSet is the answer of WorkflowChanges.
type WorkflowChangeSet struct {
	// Mark is the change mark the set brings a trigger index to.
	Mark string
	// Workflows are the changed workflows, current versions, ordered by tenant and name,
	// each with the mark of its last change.
	Workflows []Workflow
	// Filters are every filter of those workflows, oldest first.
	Filters []Filter
}

// ParseChangeMark reads a change mark given to WorkflowChanges as the number both stores
// count changes with; "" (everything) is -1, before any change.
func ParseChangeMark(mark string) (int64, error) {
	if mark == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(mark, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a workflow change mark", mark)
	}
	return n, nil
}

// PutMark is the Mark a write of a workflow or a filter answers with: the change mark
// its transaction committed when it changed something, "" when it did not (a put of an
// unchanged definition). It is not the mark read back with the row, which may already be
// a later change's.
func PutMark(changed bool, mark int64) string {
	if !changed {
		return ""
	}
	return strconv.FormatInt(mark, 10)
}

// TriggerDecision records what an event did to one workflow whose trigger matched.
type TriggerDecision struct {
	Workflow string `json:"workflow"`
	Version  int    `json:"version"`
	RunID    string `json:"run_id,omitempty"`
	Skipped  string `json:"skipped,omitempty"`
	// Error is the message of a trigger or filter expression that failed on the event
	// (always with Skipped "expression_error" unless another trigger or filter started
	// the run); see docs/triggers.md.
	Error string `json:"error,omitempty"`
	// FilterID names the runtime filter that let the event through (its payload went
	// into the run's input), if the workflow has filters.
	FilterID string `json:"filter_id,omitempty"`
}

// Event is a stored event.
type Event struct {
	ID              string
	TenantID        string
	Key             string
	Payload         json.RawMessage
	Metadata        json.RawMessage
	Source          string
	ParentRunID     string
	ParentStepRunID string
	ParentStep      string
	// Scope is the routing scope a webhook's scope expression gave, or "".
	Scope string
	// Webhook is the name of the webhook that received the event (source webhook).
	Webhook string
	// DedupeID is the delivery's deduplication id (webhooks; "" when it had none). A
	// tenant's webhook accepts each id once.
	DedupeID string
	// ReplayOf is the id of the event this one replays (source replay), or "".
	ReplayOf  string
	Triggers  []TriggerDecision
	CreatedAt time.Time
}

// Run is a workflow run.
type Run struct {
	ID           string
	TenantID     string
	WorkflowID   string
	WorkflowName string
	Version      int
	EventID      string
	Status       string
	Input        json.RawMessage
	Error        string
	CreatedAt    time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
}

// StepRun is one step of a run.
type StepRun struct {
	ID             string
	TenantID       string
	RunID          string
	WorkflowName   string
	Step           string
	Position       int
	Parents        []string
	PendingParents int
	Status         string
	Attempt        int
	MaxAttempts    int
	TimeoutMS      int64
	Retry          RetryDef
	LeaseID        string
	WorkerID       string
	LeaseExpiresAt *time.Time
	DeadlineAt     *time.Time
	Output         json.RawMessage
	Error          string
	LeaseLosses    int
	QueuedAt       *time.Time
	StartedAt      *time.Time
	FinishedAt     *time.Time
}

// IngestItem is one unit of EventInsert: an event (nil for a manual run) and the runs it starts.
type IngestItem struct {
	Event *Event
	Runs  []IngestRun
	// OutboxID, when set, names the outbox row this event comes from; EventInsert deletes it in
	// the same transaction (stores with an outbox only).
	OutboxID string
	// Delivery, when set, is a webhook delivery record inserted in the same transaction
	// (alone, for a refused delivery: then Event and Runs are empty).
	Delivery *WebhookDelivery
	// IdempotencyKey, when set, is claimed for Event in the same transaction: if the
	// tenant holds the key and it has not expired (its expiry is after Event.CreatedAt),
	// EventInsert fails with ErrConflict and stores nothing; an expired key is taken over.
	IdempotencyKey string
	// IdempotencyExpiresAt is when the claimed key expires.
	IdempotencyExpiresAt time.Time
	// DeliverAt, when set, delays Event: it is stored as a scheduled event (see
	// ScheduleStore), not in the event log, and Runs must be empty. IdempotencyKey is
	// claimed for it all the same.
	DeliverAt time.Time
	// ScheduledID, when set, names the scheduled event that Event delivers: EventInsert deletes
	// it in the same transaction, and fails with ErrConflict (storing nothing) when it is
	// no longer scheduled (cancelled, or delivered by another replica).
	ScheduledID string
}

// OutboxEntry is an event an application wrote into the transactional outbox.
type OutboxEntry struct {
	ID        string
	Tenant    string
	Key       string
	Payload   json.RawMessage
	Metadata  json.RawMessage
	CreatedAt time.Time
	// Attempts is how many times it was claimed (OutboxClaim) without being relayed, less
	// the claims given back (OutboxRelease).
	Attempts int
}

// Outbox is implemented by stores with a transactional outbox (PostgreSQL).
type Outbox interface {
	// OutboxClaim returns up to p.Limit pending entries (not refused, not claimed by
	// someone else), oldest first: those never claimed, or with p.Retried those claimed
	// before. It marks them claimed until p.Until and counts an attempt on each
	// (Attempts, as returned, includes this claim), in the same statement. Every pending
	// entry is due (p.Now only ends earlier claims).
	OutboxClaim(ctx context.Context, p DeliveryClaim) ([]OutboxEntry, error)
	// OutboxRelease gives back the attempt of claimed entries whose relay the caller
	// abandoned for a reason of its own (overloaded, shutting down, the store
	// unavailable). Their claims stay.
	OutboxRelease(ctx context.Context, ids []string) error
	// OutboxReject marks an entry refused, with the reason; it is not retried.
	OutboxReject(ctx context.Context, id, reason string) error
}

// ListenHandlers receive a shared store's notifications from every replica.
type ListenHandlers struct {
	// Work is called for a queue that got ready work.
	Work func(WorkKey)
	// Workflows is called when workflows or payload schemas changed (the listener
	// compares each change mark).
	Workflows func()
	// Outbox is called when the outbox got entries.
	Outbox func()
	// Reconnected is called each time the store starts listening, the first time
	// included: notifications sent before that (while starting, or while the connection
	// was lost) were not delivered.
	Reconnected func()
}

// Webhook is a tenant's endpoint for a third-party sender.
type Webhook struct {
	ID                 string
	TenantID           string
	Name               string
	Source             string
	EventKeyExpression string
	ScopeExpression    string
	DedupeExpression   string
	// StaticPayload is a JSON object merged over each delivery's body, or nil.
	StaticPayload json.RawMessage
	// Auth holds the generic source's non-secret authentication settings.
	Auth WebhookAuth
	// SealedSecret is the secret (signing secret, password or API key) encrypted under the
	// master key; stores keep it as opaque bytes.
	SealedSecret []byte
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// WebhookAuth is a generic webhook's authentication method without its secret.
type WebhookAuth struct {
	Type      string `json:"type,omitempty"`
	Header    string `json:"header,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	Username  string `json:"username,omitempty"`
}

// Delivery verification results.
const (
	VerificationPassed     = "passed"
	VerificationFailed     = "failed"
	VerificationNotChecked = "not_checked"
)

// Delivery outcomes.
const (
	DeliveryAccepted  = "accepted"
	DeliveryDuplicate = "duplicate"
	DeliveryChallenge = "challenge"
	DeliveryRefused   = "refused"
)

// WebhookDelivery is the record of one request to a webhook's URL, accepted or refused.
type WebhookDelivery struct {
	ID           string
	TenantID     string
	WebhookID    string
	ReceivedAt   time.Time
	Verification string
	Outcome      string
	StatusCode   int
	Error        string
	// EventID is the event created (accepted) or found (duplicate), else "".
	EventID   string
	DedupeID  string
	BodyBytes int64
}

// DeliveryFilter pages delivery records.
type DeliveryFilter struct {
	// Before is a cursor: only ids strictly less than it.
	Before string
	Limit  int
}

// IngestRun is a run to create with all its step-runs (ready ones have status queued).
type IngestRun struct {
	Run   Run
	Steps []StepRun
}

// EventFilter selects events.
type EventFilter struct {
	// Key selects events with exactly this key.
	Key string
	// KeyPrefix selects events whose key starts with it.
	KeyPrefix string
	// Metadata selects events whose additional metadata has each of these keys with this
	// value: a string value as is, a number or boolean by its JSON text ("42", "true").
	// Keys must not contain '"' or '\\'.
	Metadata map[string]string
	// Since and Until, when not zero, select events created in [Since, Until).
	Since, Until time.Time
	// Before is a cursor: only ids strictly less than it.
	Before string
	// After, when set, selects only ids strictly greater than it (newer events).
	After string
	// Workflow, when set, selects events that started a run of this workflow.
	Workflow string
	Limit    int
}

// RunFilter selects runs.
type RunFilter struct {
	Workflow string
	Status   string
	EventID  string
	// Metadata selects runs whose event's additional metadata has each of these keys
	// with this value, compared as in EventFilter.Metadata (manual runs have none).
	Metadata map[string]string
	// Key selects runs whose event has exactly this key; KeyPrefix, runs whose event's key
	// starts with it (manual runs have no event and match neither).
	Key, KeyPrefix string
	// Since and Until, when not zero, select runs created in [Since, Until).
	Since, Until time.Time
	Before       string
	Limit        int
}

// Worker is a registered worker process.
type Worker struct {
	ID              string
	TenantID        string
	Name            string
	Workflows       []string
	Slots           int
	CreatedAt       time.Time
	LastHeartbeatAt time.Time
}

// ClaimParams are the arguments of StepClaim.
type ClaimParams struct {
	TenantID  string
	WorkerID  string
	Workflows []string
	Max       int
	Now       time.Time
	LeaseFor  time.Duration
	// NewLeaseID makes a fresh lease id per claimed step-run.
	NewLeaseID func() string
}

// Assignment is a step-run leased to a worker, with what it needs to run.
type Assignment struct {
	StepRunID      string
	LeaseID        string
	RunID          string
	EventID        string
	Workflow       string
	Version        int
	Step           string
	Attempt        int
	MaxAttempts    int
	Input          json.RawMessage
	Parents        map[string]json.RawMessage
	Deadline       time.Time
	LeaseExpiresAt time.Time
	// AvailableAt is when the step-run became ready to claim: its time in the queue ends
	// with this claim.
	AvailableAt time.Time
}

// LeaseRef names a held lease.
type LeaseRef struct {
	StepRunID string
	LeaseID   string
}

// HeartbeatParams are the arguments of StepHeartbeat.
type HeartbeatParams struct {
	TenantID string
	WorkerID string
	Leases   []LeaseRef
	Now      time.Time
	LeaseFor time.Duration
}

// StepResult is a worker's report on one step-run attempt.
type StepResult struct {
	TenantID  string
	StepRunID string
	LeaseID   string
	Succeeded bool
	Output    json.RawMessage
	Error     string
	// Retryable is false when the step asked not to be retried.
	Retryable bool
	At        time.Time
}

// WorkKey names a queue: a tenant's steps of one workflow.
type WorkKey struct {
	TenantID string
	Workflow string
}

// FinishOutcome is what a finished step did, for waking workers and timers.
type FinishOutcome struct {
	// Err is ErrStaleLease when the result was refused.
	Err       error
	StepRunID string
	RunID     string
	// RunStatus is the run's status after the change.
	RunStatus string
	// Queued lists queues that got a step ready at AvailableAt (children, retries).
	Queued []QueuedWork
	// StartedAt is when the attempt this result ends started (zero when refused).
	StartedAt time.Time
}

// QueuedWork is a step-run queued for a worker, available at a time.
type QueuedWork struct {
	WorkKey
	AvailableAt time.Time
}
