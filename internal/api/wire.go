package api

import (
	"time"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/wire"
)

// The bodies of the API are the types of internal/wire; this file turns store and
// engine rows into them. A nil list stays nil (JSON null), as it always was.

func toEvent(e store.Event) wire.Event {
	return wire.Event{
		ID: e.ID, Key: e.Key, Payload: e.Payload, AdditionalMetadata: e.Metadata, Source: e.Source,
		ParentRunID: e.ParentRunID, ParentStepRunID: e.ParentStepRunID, ParentStep: e.ParentStep,
		Webhook: e.Webhook, Scope: e.Scope, DedupeID: e.DedupeID, ReplayOf: e.ReplayOf, CreatedAt: e.CreatedAt,
		Triggers: toTriggerDecisions(e.Triggers), Status: store.EventDelivered,
	}
}

func toTriggerDecisions(ds []store.TriggerDecision) []wire.TriggerDecision {
	if ds == nil {
		return nil
	}
	out := make([]wire.TriggerDecision, len(ds))
	for i, d := range ds {
		out[i] = wire.TriggerDecision{Workflow: d.Workflow, Version: d.Version, RunID: d.RunID, Skipped: d.Skipped, Error: d.Error, FilterID: d.FilterID}
	}
	return out
}

func toRun(r store.Run) wire.Run {
	return wire.Run{
		ID: r.ID, Workflow: r.WorkflowName, Version: r.Version, Status: r.Status, EventID: r.EventID, Input: r.Input,
		Error: r.Error, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
	}
}

func toStep(s store.StepRun) wire.StepRun {
	return wire.StepRun{
		ID: s.ID, Name: s.Step, Parents: s.Parents, Status: s.Status, Attempt: s.Attempt, MaxAttempts: s.MaxAttempts,
		WorkerID: s.WorkerID, Output: s.Output, Error: s.Error, QueuedAt: s.QueuedAt, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt,
	}
}

func toStoreDef(d wire.WorkflowDef) store.WorkflowDef {
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

func toWorkflow(w store.Workflow) wire.Workflow {
	out := wire.Workflow{Name: w.Name, Description: w.Def.Description, Active: w.Active, Version: w.Version,
		Triggers: w.Def.Triggers, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	if out.Triggers == nil {
		out.Triggers = []store.Trigger{}
	}
	for _, s := range w.Def.Steps {
		out.Steps = append(out.Steps, wire.StepDef{
			Name: s.Name, Parents: s.Parents, Timeout: ms(s.TimeoutMS),
			Retry: wire.Retry{
				MaxAttempts: s.Retry.MaxAttempts, InitialBackoff: ms(s.Retry.InitialBackoffMS),
				MaxBackoff: ms(s.Retry.MaxBackoffMS), Multiplier: s.Retry.Multiplier,
			},
		})
	}
	return out
}

// ms is a number of milliseconds as a wire duration.
func ms(n int64) wire.Duration { return wire.Duration(time.Duration(n) * time.Millisecond) }

func toToken(t store.Token) wire.Token {
	return wire.Token{ID: t.ID, Name: t.Name, Tenant: t.TenantName, Role: string(t.Role), Admin: t.Role == store.RoleAdmin || t.Role == store.RoleOperator,
		CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt}
}

func toTenant(t store.Tenant) wire.Tenant {
	return wire.Tenant{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt}
}

func toAssignment(a store.Assignment) wire.Assignment {
	return wire.Assignment{
		StepRunID: a.StepRunID, LeaseID: a.LeaseID, RunID: a.RunID, Workflow: a.Workflow, Version: a.Version, Step: a.Step,
		Attempt: a.Attempt, MaxAttempts: a.MaxAttempts, Input: a.Input, Parents: a.Parents, EventID: a.EventID,
		Deadline: a.Deadline, LeaseExpiresAt: a.LeaseExpiresAt,
	}
}
