package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/internal/store"
)

// Reasons a workflow would not be triggered by an event, as Explain reports them.
const (
	// ReasonKeyMismatch: none of the workflow's triggers matches the event key.
	ReasonKeyMismatch = "key_mismatch"
	// ReasonNoTriggers: the workflow has no triggers; it runs only manually.
	ReasonNoTriggers = "no_triggers"
	// ReasonDisabled: a trigger matches but the workflow is disabled.
	ReasonDisabled = "disabled"
)

// Decision is what an event would do to one workflow of its tenant.
type Decision struct {
	Workflow string `json:"workflow"`
	Version  int    `json:"version"`
	// Trigger reports whether a run would start.
	Trigger bool `json:"trigger"`
	// MatchedTriggers lists the workflow's triggers that match the key.
	MatchedTriggers []string `json:"matched_triggers"`
	// Reason says why no run would start ("" when one would).
	Reason string `json:"reason,omitempty"`
}

// Explanation is the answer to a dry run.
type Explanation struct {
	// Decisions has one entry per workflow of the tenant, ordered by name.
	Decisions []Decision
	// DuplicateOf, when the event's idempotency key is live, is the event that holds it:
	// the push would be a duplicate and trigger nothing.
	DuplicateOf string
}

// Explain validates an event like Push and reports, for every workflow of the tenant,
// whether the event would trigger it and if not why. It stores nothing.
func (e *Engine) Explain(ctx context.Context, tenantID string, in EventInput) (Explanation, error) {
	if err := ValidateKey("key", in.Key); err != nil {
		return Explanation{}, err
	}
	if _, err := jsonObject("payload", in.Payload); err != nil {
		return Explanation{}, err
	}
	if _, err := metadataObject("additional_metadata", in.Metadata); err != nil {
		return Explanation{}, err
	}
	if err := validateIdempotencyKey("idempotency_key", in.IdempotencyKey); err != nil {
		return Explanation{}, err
	}
	var out Explanation
	if in.IdempotencyKey != "" {
		orig, err := e.store.GetIdempotentEvent(ctx, tenantID, in.IdempotencyKey, now())
		switch {
		case err == nil:
			out.DuplicateOf = orig.ID
		case !errors.Is(err, store.ErrNotFound):
			return Explanation{}, fmt.Errorf("looking up idempotency key: %w", err)
		}
	}
	wfs := e.index.Load().workflows(tenantID)
	out.Decisions = make([]Decision, 0, len(wfs))
	for _, wf := range wfs {
		d := Decision{Workflow: wf.Name, Version: wf.Version, MatchedTriggers: []string{}}
		for _, t := range wf.Def.Triggers {
			if TriggerMatches(t, in.Key) {
				d.MatchedTriggers = append(d.MatchedTriggers, t)
			}
		}
		switch {
		case len(wf.Def.Triggers) == 0:
			d.Reason = ReasonNoTriggers
		case len(d.MatchedTriggers) == 0:
			d.Reason = ReasonKeyMismatch
		case !wf.Active:
			d.Reason = ReasonDisabled
		default:
			d.Trigger = true
		}
		out.Decisions = append(out.Decisions, d)
	}
	return out, nil
}
