package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/expr"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/webhook"
)

// Reasons a workflow is not triggered by an event. The stored decisions of an event
// (TriggerDecision.Skipped) and a dry run's (Decision.Reason) use the same words; the
// truth table in docs/triggers.md says when each applies.
const (
	// ReasonKeyMismatch: none of the workflow's triggers matches the event key.
	ReasonKeyMismatch = "key_mismatch"
	// ReasonNoTriggers: the workflow has no triggers; it runs only manually.
	ReasonNoTriggers = "no_triggers"
	// ReasonDisabled: a trigger matches but the workflow is disabled.
	ReasonDisabled = "disabled"
	// ReasonExpressionFalse: the expressions of the matching triggers, or of the filters
	// of the event's scope, are all false.
	ReasonExpressionFalse = "expression_false"
	// ReasonExpressionError: no expression was true and at least one failed (the message
	// says which and why).
	ReasonExpressionError = "expression_error"
	// ReasonScopeMismatch: the workflow has filters, but none for the event's scope (an
	// event without a scope passes no filter).
	ReasonScopeMismatch = "scope_mismatch"
	// ReasonSchemaViolation: the payload does not conform to the JSON Schema of its key
	// (dry runs only: a real push is refused).
	ReasonSchemaViolation = "schema_violation"
)

// verdict is what an event does to one workflow: the one decision shared by ingest
// (matchEvent) and dry runs (Explain), so that the two cannot disagree.
type verdict struct {
	trigger bool
	// reason says why not ("" when it triggers).
	reason string
	// message is the first expression error met, with where it came from; set with
	// reason expression_error, and also when another trigger or filter fired.
	message string
	// filter is the filter that let the event through, if the workflow has filters.
	filter *indexedFilter
}

// decide decides what es's event does to w, whose triggers at positions trigs match the
// event's key. es is shared with the next workflows: the payload is decoded at most once
// per event, and the expressions of all the workflows spend one budget.
//
// The rules, in order (docs/triggers.md): no triggers → no_triggers; no matching
// trigger → key_mismatch; disabled → disabled; a matching trigger without an expression,
// or else the first whose expression is true, fires — otherwise expression_error if one
// failed, else expression_false; then, if the workflow has filters, the filters of the
// event's scope are tried oldest first and the first without an expression or with a
// true one lets the event through (its payload goes to the run) — none of the scope is
// scope_mismatch, and none true is expression_error or expression_false as above.
func decide(w *indexedWorkflow, trigs []int, es *eventEval) verdict {
	ev := es.ev
	switch {
	case len(w.triggers) == 0:
		return verdict{reason: ReasonNoTriggers}
	case len(trigs) == 0:
		return verdict{reason: ReasonKeyMismatch}
	case !w.wf.Active:
		return verdict{reason: ReasonDisabled}
	}
	var v verdict
	fired := false
	for _, i := range trigs {
		if w.triggers[i].prog == nil {
			fired = true
			break
		}
	}
	for j := 0; !fired && j < len(trigs); j++ {
		i := trigs[j]
		ok, err := w.triggers[i].prog.eval(es)
		if err != nil {
			if v.message == "" {
				v.message = fmt.Sprintf("triggers[%d] (%s): %v", i, w.triggers[i].Key, err)
			}
			continue
		}
		fired = ok
	}
	if !fired {
		return notFired(v)
	}
	set := w.filterSet()
	if set == nil {
		v.trigger = true
		return v
	}
	fs := set.byScope[ev.Scope]
	if ev.Scope == "" || len(fs) == 0 {
		return verdict{reason: ReasonScopeMismatch, message: v.message}
	}
	for _, f := range fs {
		if f.prog == nil {
			v.trigger, v.filter = true, f
			return v
		}
		ok, err := f.prog.eval(es)
		if err != nil {
			if v.message == "" {
				v.message = fmt.Sprintf("filter %s: %v", f.ID, err)
			}
			continue
		}
		if ok {
			v.trigger, v.filter = true, f
			return v
		}
	}
	return notFired(v)
}

// notFired ends a decision where no expression was true.
func notFired(v verdict) verdict {
	if v.message != "" {
		v.reason = ReasonExpressionError
	} else {
		v.reason = ReasonExpressionFalse
	}
	return v
}

// matchEvent decides what ev does to every workflow of its tenant whose trigger matches
// its key: it records a TriggerDecision per such workflow on ev and returns the runs to
// create with the event, and references to them (never nil). Its expressions are
// evaluated within ctx, the event's budget and the request's (nil: none): once either is
// spent, each expression left
// fails (expression_error) without being evaluated. When ctx ends while expressions are
// evaluated, the rest are not, and it returns the cause: such decisions are not stored.
func (bs *base) matchEvent(ctx context.Context, ix *triggerIndex, ev *store.Event, at time.Time, request *expr.Budget) ([]store.IngestRun, []RunRef, error) {
	var runs []store.IngestRun
	refs := []RunRef{}
	es := bs.newEventEval(ctx, ev, request)
	for _, m := range ix.match(ev.TenantID, ev.Key) {
		wf := m.w.wf
		v := decide(m.w, m.trigs, &es)
		input := ev.Payload
		if v.trigger && v.filter != nil && len(v.filter.Payload) > 0 {
			merged, err := webhook.MergeStatic(ev.Payload, v.filter.Payload)
			if err != nil { // both are validated objects; recorded rather than lost if not
				v = verdict{reason: ReasonExpressionError, message: fmt.Sprintf("filter %s: %v", v.filter.ID, err)}
			}
			input = merged
		}
		d := store.TriggerDecision{Workflow: wf.Name, Version: wf.Version, Error: v.message}
		if v.filter != nil {
			d.FilterID = v.filter.ID
		}
		if !v.trigger {
			d.Skipped = v.reason
			ev.Triggers = append(ev.Triggers, d)
			continue
		}
		run := newRun(wf, ev.ID, input, at)
		runs = append(runs, run)
		d.RunID = run.Run.ID
		ev.Triggers = append(ev.Triggers, d)
		refs = append(refs, RunRef{Workflow: wf.Name, Version: wf.Version, RunID: run.Run.ID})
	}
	return runs, refs, es.err()
}
