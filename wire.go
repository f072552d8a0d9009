package herald

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/wire"
)

// The SDK sends and reads the API's bodies as the types of internal/wire, the one
// definition the server uses too; this file turns them into the SDK's exported types and
// back. The exported types keep their own JSON tags: they are how a program (and the
// CLI's -o json) writes them, and a nil list stays nil, as it was when the SDK decoded
// replies into them.

// eventPush is ev as the API takes it.
func eventPush(ev Event) (wire.EventPush, error) {
	out := wire.EventPush{Key: ev.Key, IdempotencyKey: ev.IdempotencyKey, Scope: ev.Scope}
	if ev.Payload != nil {
		b, err := json.Marshal(ev.Payload)
		if err != nil {
			return out, fmt.Errorf("encoding request: payload: %w", err)
		}
		out.Payload = b
	}
	if len(ev.AdditionalMetadata) > 0 {
		b, err := json.Marshal(ev.AdditionalMetadata)
		if err != nil {
			return out, fmt.Errorf("encoding request: additional_metadata: %w", err)
		}
		out.AdditionalMetadata = b
	}
	if !ev.DeliverAt.IsZero() {
		b, err := ev.DeliverAt.MarshalText()
		if err != nil {
			return out, fmt.Errorf("encoding request: deliver_at: %w", err)
		}
		out.DeliverAt = string(b)
	}
	if ev.Delay != 0 {
		out.Delay = ev.Delay.String()
	}
	return out, nil
}

// marshalInput is a value a caller gives as a JSON object (a run's input, a filter's
// payload), encoded; nil stays absent.
func marshalInput(field string, v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding request: %s: %w", field, err)
	}
	return b, nil
}

func fromPushReply(r wire.PushReply) (PushResult, error) {
	ev, err := fromEvent(r.Event)
	if err != nil {
		return PushResult{}, err
	}
	return PushResult{Event: ev, Runs: r.Runs, Duplicate: r.Duplicate}, nil
}

func fromEvent(e wire.Event) (EventInfo, error) {
	out := EventInfo{
		ID: e.ID, Key: e.Key, Payload: e.Payload, Source: e.Source, ParentRunID: e.ParentRunID, ParentStepRunID: e.ParentStepRunID,
		ParentStep: e.ParentStep, Triggers: e.Triggers, Webhook: e.Webhook, Scope: e.Scope, DedupeID: e.DedupeID, CreatedAt: e.CreatedAt,
		Status: e.Status, DeliverAt: e.DeliverAt, DeliveryError: e.DeliveryError,
	}
	if len(e.AdditionalMetadata) > 0 {
		if err := json.Unmarshal(e.AdditionalMetadata, &out.AdditionalMetadata); err != nil {
			return out, fmt.Errorf("reading additional_metadata of event %s: %w", e.ID, err)
		}
	}
	if e.Runs != nil {
		out.Runs = make([]RunSummary, len(*e.Runs))
		for i, r := range *e.Runs {
			out.Runs[i] = fromRunSummary(r)
		}
	}
	return out, nil
}

func fromEvents(es []wire.Event) ([]EventInfo, error) {
	if es == nil {
		return nil, nil
	}
	out := make([]EventInfo, len(es))
	for i, e := range es {
		var err error
		if out[i], err = fromEvent(e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func fromDryRun(r wire.DryRunReply) DryRunResult {
	return DryRunResult{Key: r.Key, DuplicateOf: r.DuplicateOf, Workflows: r.Workflows}
}

func fromRunSummary(r wire.Run) RunSummary {
	return RunSummary{ID: r.ID, Workflow: r.Workflow, Version: r.Version, Status: r.Status, EventID: r.EventID, Input: r.Input,
		Error: r.Error, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
}

func fromRun(r wire.Run) Run {
	out := Run{RunSummary: fromRunSummary(r)}
	if r.Steps != nil {
		out.Steps = make([]StepRun, len(r.Steps))
		for i, s := range r.Steps {
			out.Steps[i] = StepRun(s)
		}
	}
	return out
}

func fromToken(t wire.Token) TokenInfo {
	return TokenInfo{ID: t.ID, Name: t.Name, Tenant: t.Tenant, Role: Role(t.Role), Admin: t.Admin, CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt}
}

// fromList converts the items of a list reply, keeping nil as nil.
func fromList[W, T any](items []W, conv func(W) T) []T {
	if items == nil {
		return nil
	}
	out := make([]T, len(items))
	for i, x := range items {
		out[i] = conv(x)
	}
	return out
}

// toWorkflowDef is a definition as the API takes it.
func toWorkflowDef(d WorkflowDefinition) wire.WorkflowDef {
	out := wire.WorkflowDef{Name: d.Name, Description: d.Description}
	for _, t := range mixTriggers(d.Triggers, d.ConditionalTriggers) {
		out.Triggers = append(out.Triggers, wire.Trigger(t))
	}
	if out.Triggers == nil {
		out.Triggers = []wire.Trigger{}
	}
	if d.Steps != nil {
		out.Steps = make([]wire.StepDef, len(d.Steps))
		for i, s := range d.Steps {
			out.Steps[i] = wire.StepDef{Name: s.Name, Parents: s.Parents, Timeout: wire.Duration(s.Timeout), Retry: wire.Retry{
				MaxAttempts: s.Retry.MaxAttempts, InitialBackoff: wire.Duration(s.Retry.InitialBackoff),
				MaxBackoff: wire.Duration(s.Retry.MaxBackoff), Multiplier: s.Retry.Multiplier,
			}}
		}
	}
	return out
}

func fromWorkflow(w wire.Workflow) WorkflowInfo {
	out := WorkflowInfo{Name: w.Name, Description: w.Description, Active: w.Active, Version: w.Version,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	ts := make([]Trigger, len(w.Triggers))
	for i, t := range w.Triggers {
		ts[i] = Trigger(t)
	}
	out.Triggers, out.ConditionalTriggers = splitTriggers(ts)
	if w.Steps != nil {
		out.Steps = make([]StepDefinition, len(w.Steps))
		for i, s := range w.Steps {
			out.Steps[i] = StepDefinition{Name: s.Name, Parents: s.Parents, Timeout: time.Duration(s.Timeout), Retry: RetryPolicy{
				MaxAttempts: s.Retry.MaxAttempts, InitialBackoff: time.Duration(s.Retry.InitialBackoff),
				MaxBackoff: time.Duration(s.Retry.MaxBackoff), Multiplier: s.Retry.Multiplier,
			}}
		}
	}
	return out
}

// nonEmpty is s as an optional field: nil when empty.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
