package engine

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/wire"
)

// Decision is what an event would do to one workflow of its tenant: the API's Decision,
// whose Reason is one of the Reason constants.
type Decision = wire.Decision

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
	payload, err := jsonObject("payload", in.Payload)
	if err != nil {
		return Explanation{}, err
	}
	meta, err := metadataObject("additional_metadata", in.Metadata)
	if err != nil {
		return Explanation{}, err
	}
	if err := ValidateScope("scope", in.Scope); err != nil {
		return Explanation{}, err
	}
	if err := validateIdempotencyKey("idempotency_key", in.IdempotencyKey); err != nil {
		return Explanation{}, err
	}
	var out Explanation
	if in.IdempotencyKey != "" {
		dup, ok, err := e.idempotentOriginal(ctx, tenantID, in.IdempotencyKey, e.now())
		if err != nil {
			return Explanation{}, err
		}
		if ok {
			out.DuplicateOf = dup.Event.ID
		}
	}
	// The event as a push would store it, for the expressions.
	ev := &store.Event{TenantID: tenantID, Key: in.Key, Payload: payload, Metadata: meta, Scope: in.Scope}
	schemaErr := e.checkPayload(ctx, tenantID, "payload", in.Key, payload)
	ix := e.index.Load()
	wfs := ix.workflows(tenantID)
	out.Decisions = make([]Decision, 0, len(wfs))
	es := e.newEventEval(ctx, ev, e.requestBudget([]EventInput{in}))
	// The workflows whose trigger matches the key are decided first, in the order a push
	// decides them: their expressions share the event's budget, and must spend it as the
	// push would.
	matched := map[*indexedWorkflow]verdict{}
	for _, m := range ix.match(tenantID, in.Key) {
		matched[m.w] = decide(m.w, m.trigs, &es)
	}
	for _, w := range wfs {
		d := Decision{Workflow: w.wf.Name, Version: w.wf.Version, MatchedTriggers: []string{}}
		var trigs []int
		for i, t := range w.triggers {
			if TriggerMatches(t.Key, in.Key) {
				trigs = append(trigs, i)
				d.MatchedTriggers = append(d.MatchedTriggers, t.Key)
			}
		}
		v, ok := matched[w]
		if !ok {
			v = decide(w, trigs, &es) // no trigger matches: nothing is evaluated
		}
		d.Trigger, d.Reason, d.Message = v.trigger, v.reason, v.message
		if v.filter != nil {
			d.FilterID = v.filter.ID
		}
		if d.Trigger && schemaErr != nil {
			d.Trigger, d.Reason, d.Message, d.FilterID = false, ReasonSchemaViolation, schemaErr.Error(), ""
		}
		out.Decisions = append(out.Decisions, d)
	}
	if err := es.err(); err != nil {
		return Explanation{}, fmt.Errorf("explaining: %w", err)
	}
	return out, nil
}
