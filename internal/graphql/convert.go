package graphql

import (
	"encoding/json"
	"time"

	"github.com/heraldhq/herald/internal/graphql/model"
	"github.com/heraldhq/herald/internal/store"
)

// opt is s, or nil when it is empty (a null in the answer).
func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// optObject is raw, or nil (a null in the answer) when it is empty.
func optObject(raw json.RawMessage) model.JSONObject {
	if len(raw) == 0 {
		return nil
	}
	return model.JSONObject(raw)
}

func toEvent(e store.Event) model.Event {
	out := model.Event{
		ID: e.ID, Key: e.Key, Payload: model.JSONObject(e.Payload), Metadata: optObject(e.Metadata), Source: e.Source,
		Scope: opt(e.Scope), Status: store.EventDelivered, CreatedAt: e.CreatedAt,
		ParentRunID: opt(e.ParentRunID), ParentStepRunID: opt(e.ParentStepRunID), ParentStep: opt(e.ParentStep),
		Webhook: opt(e.Webhook), ReplayOf: opt(e.ReplayOf), Triggers: make([]model.TriggerDecision, 0, len(e.Triggers)),
	}
	for _, t := range e.Triggers {
		out.Triggers = append(out.Triggers, model.TriggerDecision{
			Workflow: t.Workflow, Version: t.Version, Started: t.RunID != "", RunID: opt(t.RunID),
			Skipped: opt(t.Skipped), Error: opt(t.Error), FilterID: opt(t.FilterID),
		})
	}
	return out
}

// toScheduled is a delayed event that has not been delivered.
func toScheduled(s store.ScheduledEvent) model.Event {
	at := s.DeliverAt
	return model.Event{
		ID: s.ID, Key: s.Key, Payload: model.JSONObject(s.Payload), Metadata: optObject(s.Metadata), Source: s.Source,
		Scope: opt(s.Scope), Status: s.Status, DeliverAt: &at, DeliveryError: opt(s.Error), CreatedAt: s.CreatedAt,
		ParentRunID: opt(s.ParentRunID), ParentStepRunID: opt(s.ParentStepRunID), ParentStep: opt(s.ParentStep),
		Triggers: []model.TriggerDecision{}, Delayed: true,
	}
}

func toRun(r store.Run) model.Run {
	return model.Run{
		ID: r.ID, Workflow: r.WorkflowName, Version: r.Version, Status: r.Status, EventID: opt(r.EventID),
		Input: model.JSONObject(r.Input), Error: opt(r.Error), CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
	}
}

func toStep(s store.StepRun) model.StepRun {
	parents := s.Parents
	if parents == nil {
		parents = []string{}
	}
	return model.StepRun{
		ID: s.ID, Name: s.Step, Parents: parents, Status: s.Status, Attempt: s.Attempt, MaxAttempts: s.MaxAttempts,
		WorkerID: opt(s.WorkerID), Output: optObject(s.Output), Error: opt(s.Error),
		QueuedAt: s.QueuedAt, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt,
	}
}

func toWorkflow(w store.Workflow) model.Workflow {
	out := model.Workflow{
		Name: w.Name, Description: w.Def.Description, Active: w.Active, Version: w.Version,
		Triggers: make([]model.WorkflowTrigger, 0, len(w.Def.Triggers)), Steps: make([]model.StepDefinition, 0, len(w.Def.Steps)),
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
	}
	for _, t := range w.Def.Triggers {
		out.Triggers = append(out.Triggers, model.WorkflowTrigger{Key: t.Key, Expression: opt(t.Expression)})
	}
	for _, s := range w.Def.Steps {
		parents := s.Parents
		if parents == nil {
			parents = []string{}
		}
		out.Steps = append(out.Steps, model.StepDefinition{
			Name: s.Name, Parents: parents, Timeout: (time.Duration(s.TimeoutMS) * time.Millisecond).String(),
			MaxAttempts: s.Retry.MaxAttempts,
		})
	}
	return out
}
