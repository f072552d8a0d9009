package api

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
)

type eventJSON struct {
	ID                 string                  `json:"id"`
	Key                string                  `json:"key"`
	Payload            json.RawMessage         `json:"payload"`
	AdditionalMetadata json.RawMessage         `json:"additional_metadata,omitempty"`
	Source             string                  `json:"source"`
	ParentRunID        string                  `json:"parent_run_id,omitempty"`
	ParentStepRunID    string                  `json:"parent_step_run_id,omitempty"`
	ParentStep         string                  `json:"parent_step,omitempty"`
	Webhook            string                  `json:"webhook,omitempty"`
	Scope              string                  `json:"scope,omitempty"`
	DedupeID           string                  `json:"dedupe_id,omitempty"`
	ReplayOf           string                  `json:"replay_of,omitempty"`
	CreatedAt          time.Time               `json:"created_at"`
	Triggers           []store.TriggerDecision `json:"triggers"`
	// Runs is shown by GET /api/v1/events/{id} only, always (an empty list too).
	Runs *[]runJSON `json:"runs,omitempty"`
	// Status is delivered (in the event log), or scheduled, cancelled or failed for a
	// delayed event (scheduled.go); DeliverAt and DeliveryError belong to those.
	Status        string     `json:"status"`
	DeliverAt     *time.Time `json:"deliver_at,omitempty"`
	DeliveryError string     `json:"delivery_error,omitempty"`
}

func toEvent(e store.Event) eventJSON {
	return eventJSON{
		ID: e.ID, Key: e.Key, Payload: e.Payload, AdditionalMetadata: e.Metadata, Source: e.Source,
		ParentRunID: e.ParentRunID, ParentStepRunID: e.ParentStepRunID, ParentStep: e.ParentStep,
		Webhook: e.Webhook, Scope: e.Scope, DedupeID: e.DedupeID, ReplayOf: e.ReplayOf, CreatedAt: e.CreatedAt, Triggers: e.Triggers,
		Status: store.EventDelivered,
	}
}

type pushReply struct {
	Event eventJSON       `json:"event"`
	Runs  []engine.RunRef `json:"runs"`
	// Duplicate means the push repeated a live idempotency key: Event and Runs are the
	// original's.
	Duplicate bool `json:"duplicate"`
}

type runJSON struct {
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
	Steps      []stepJSON      `json:"steps,omitempty"`
}

func toRun(r store.Run) runJSON {
	return runJSON{
		ID: r.ID, Workflow: r.WorkflowName, Version: r.Version, Status: r.Status, EventID: r.EventID, Input: r.Input,
		Error: r.Error, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
	}
}

type stepJSON struct {
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

func toStep(s store.StepRun) stepJSON {
	return stepJSON{
		ID: s.ID, Name: s.Step, Parents: s.Parents, Status: s.Status, Attempt: s.Attempt, MaxAttempts: s.MaxAttempts,
		WorkerID: s.WorkerID, Output: s.Output, Error: s.Error, QueuedAt: s.QueuedAt, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt,
	}
}

// duration is a time.Duration written as a Go duration string ("30s").
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("a duration is a string like \"30s\": %w", err)
	}
	*d = duration(v)
	return nil
}

type retryJSON struct {
	MaxAttempts    int      `json:"max_attempts,omitempty"`
	InitialBackoff duration `json:"initial_backoff,omitempty"`
	MaxBackoff     duration `json:"max_backoff,omitempty"`
	Multiplier     float64  `json:"multiplier,omitempty"`
}

type stepDefJSON struct {
	Name    string    `json:"name"`
	Parents []string  `json:"parents,omitempty"`
	Timeout duration  `json:"timeout,omitempty"`
	Retry   retryJSON `json:"retry"`
}

type workflowDefJSON struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Triggers    []store.Trigger `json:"triggers"` // "user:*" or {"key": "user:*", "expression": "..."}
	Steps       []stepDefJSON   `json:"steps"`
}

func (d workflowDefJSON) toStore() store.WorkflowDef {
	def := store.WorkflowDef{Name: d.Name, Description: d.Description, Triggers: d.Triggers}
	for _, s := range d.Steps {
		def.Steps = append(def.Steps, store.StepDef{
			Name: s.Name, Parents: s.Parents, TimeoutMS: time.Duration(s.Timeout).Milliseconds(),
			Retry: store.RetryDef{
				MaxAttempts: s.Retry.MaxAttempts, InitialBackoffMS: time.Duration(s.Retry.InitialBackoff).Milliseconds(),
				MaxBackoffMS: time.Duration(s.Retry.MaxBackoff).Milliseconds(), Multiplier: s.Retry.Multiplier,
			},
		})
	}
	return def
}

type workflowJSON struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Active      bool            `json:"active"`
	Version     int             `json:"version"`
	Triggers    []store.Trigger `json:"triggers"`
	Steps       []stepDefJSON   `json:"steps"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

func toWorkflow(w store.Workflow) workflowJSON {
	out := workflowJSON{Name: w.Name, Description: w.Def.Description, Active: w.Active, Version: w.Version,
		Triggers: w.Def.Triggers, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	if out.Triggers == nil {
		out.Triggers = []store.Trigger{}
	}
	for _, s := range w.Def.Steps {
		out.Steps = append(out.Steps, stepDefJSON{
			Name: s.Name, Parents: s.Parents, Timeout: duration(time.Duration(s.TimeoutMS) * time.Millisecond),
			Retry: retryJSON{
				MaxAttempts: s.Retry.MaxAttempts, InitialBackoff: duration(time.Duration(s.Retry.InitialBackoffMS) * time.Millisecond),
				MaxBackoff: duration(time.Duration(s.Retry.MaxBackoffMS) * time.Millisecond), Multiplier: s.Retry.Multiplier,
			},
		})
	}
	return out
}

type tokenJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Tenant    string     `json:"tenant"`
	Role      store.Role `json:"role"`
	Admin     bool       `json:"admin"` // the field from before roles: a tenant admin or an operator
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func toToken(t store.Token) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, Tenant: t.TenantName, Role: t.Role, Admin: t.Role == store.RoleAdmin || t.Role == store.RoleOperator,
		CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt}
}

type tenantJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

type assignmentJSON struct {
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

func toAssignment(a store.Assignment) assignmentJSON {
	return assignmentJSON{
		StepRunID: a.StepRunID, LeaseID: a.LeaseID, RunID: a.RunID, Workflow: a.Workflow, Version: a.Version, Step: a.Step,
		Attempt: a.Attempt, MaxAttempts: a.MaxAttempts, Input: a.Input, Parents: a.Parents, EventID: a.EventID,
		Deadline: a.Deadline, LeaseExpiresAt: a.LeaseExpiresAt,
	}
}
