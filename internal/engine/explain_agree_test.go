package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
)

// TestExplainAgreesWithPush builds workflows from every mix of exact and pattern triggers,
// trigger expressions (true, false, failing), filters of several scopes and expressions,
// and the disabled state, pushes events of every key, scope and payload shape, and checks
// that the dry run of each event says exactly what the push then did to every workflow:
// the same workflows triggered, with the same reason, message and filter, and that the
// workflows whose key did not match are absent from the stored decisions.
func TestExplainAgreesWithPush(t *testing.T) {
	forEachEngine(t, func(t *testing.T, te triggerEngine) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(5, 9))
		keys := []string{"order:paid", "order:refunded", "user:created"}
		patterns := []string{"order:paid", "order:*", "*", "user:created", "user:*"}
		exprs := []string{"", "input.amount > 100", "input.amount <= 100", "input.nope == 1", `scope == "acme"`, `additional_metadata.tier == "gold"`}
		scopes := []string{"acme", "globex"}
		for i := 0; i < 40; i++ {
			def := store.WorkflowDef{Name: fmt.Sprintf("w%02d", i), Steps: []store.StepDef{{Name: "s"}}}
			for n := rng.IntN(3); n >= 0; n-- {
				tr := store.Trigger{Key: patterns[rng.IntN(len(patterns))], Expression: exprs[rng.IntN(len(exprs))]}
				def.Triggers = append(def.Triggers, tr)
			}
			if _, _, err := te.eng.PutWorkflow(ctx, te.tenant, def); err != nil {
				t.Fatal(err)
			}
			for n := rng.IntN(4) - 1; n > 0; n-- {
				spec := engine.FilterSpec{Scope: scopes[rng.IntN(len(scopes))], Expression: exprs[rng.IntN(len(exprs))],
					Payload: json.RawMessage(fmt.Sprintf(`{"filter":%d}`, n))}
				if _, err := te.eng.CreateFilter(ctx, te.tenant, def.Name, spec); err != nil {
					t.Fatal(err)
				}
			}
			if rng.IntN(6) == 0 {
				if _, err := te.eng.SetWorkflowActive(ctx, te.tenant, def.Name, false); err != nil {
					t.Fatal(err)
				}
			}
		}
		// New versions of some workflows, after their filters: applied to the index in place
		// too (PutWorkflow does not rebuild it), keeping their filters.
		for i := 0; i < 40; i += 3 {
			def := store.WorkflowDef{Name: fmt.Sprintf("w%02d", i), Steps: []store.StepDef{{Name: "s"}},
				Triggers: []store.Trigger{{Key: "unused:key"}}}
			for n := rng.IntN(3); n >= 0; n-- {
				def.Triggers = append(def.Triggers, store.Trigger{Key: patterns[rng.IntN(len(patterns))], Expression: exprs[rng.IntN(len(exprs))]})
			}
			if _, created, err := te.eng.PutWorkflow(ctx, te.tenant, def); err != nil || !created {
				t.Fatalf("new version of %s: created %v, err %v", def.Name, created, err)
			}
		}
		seen := map[string]bool{}
		payloads := []string{`{"amount":150}`, `{"amount":50}`, `{}`}
		metas := []string{``, `{"tier":"gold"}`}
		var events []engine.EventInput
		for _, key := range keys {
			for _, scope := range append([]string{""}, scopes...) {
				for _, payload := range payloads {
					for _, meta := range metas {
						in := engine.EventInput{Key: key, Scope: scope, Payload: json.RawMessage(payload)}
						if meta != "" {
							in.Metadata = json.RawMessage(meta)
						}
						events = append(events, in)
					}
				}
			}
		}
		// The filters and the new versions were applied to the index in place; a rebuild from
		// the store must decide exactly the same.
		before := make([][]engine.Decision, len(events))
		for i, in := range events {
			before[i] = checkAgreement(t, te, in, seen)
		}
		if err := te.eng.RefreshIndex(ctx, true); err != nil {
			t.Fatal(err)
		}
		for i, in := range events {
			if after := checkAgreement(t, te, in, seen); !reflect.DeepEqual(after, before[i]) {
				t.Errorf("%s scope %q: decisions after a rebuild %+v differ from before %+v", in.Key, in.Scope, after, before[i])
			}
		}
		// The mix must have exercised every decision.
		for _, r := range []string{"", engine.ReasonKeyMismatch, engine.ReasonDisabled, engine.ReasonExpressionFalse,
			engine.ReasonExpressionError, engine.ReasonScopeMismatch, "filter"} {
			if !seen[r] {
				t.Errorf("no event got decision %q: widen the mix", r)
			}
		}
	})
}

func checkAgreement(t *testing.T, te triggerEngine, in engine.EventInput, seen map[string]bool) []engine.Decision {
	t.Helper()
	ctx := context.Background()
	x, err := te.eng.Explain(ctx, te.tenant, in)
	if err != nil {
		t.Fatal(err)
	}
	res, err := te.eng.Push(ctx, te.tenant, []engine.EventInput{in}, false)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]store.TriggerDecision{}
	for _, d := range res[0].Event.Triggers {
		stored[d.Workflow] = d
	}
	what := fmt.Sprintf("%s scope %q payload %s meta %s", in.Key, in.Scope, in.Payload, in.Metadata)
	runs := 0
	for _, d := range x.Decisions {
		got, ok := stored[d.Workflow]
		seen[d.Reason] = true
		if d.FilterID != "" {
			seen["filter"] = true
		}
		if d.Reason == engine.ReasonKeyMismatch || d.Reason == engine.ReasonNoTriggers {
			if ok {
				t.Errorf("%s: %s: dry run says %s but the push recorded %+v", what, d.Workflow, d.Reason, got)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: %s: dry run says %+v but the push recorded nothing", what, d.Workflow, d)
			continue
		}
		if d.Trigger != (got.RunID != "") || d.Reason != got.Skipped || d.Message != got.Error || d.FilterID != got.FilterID {
			t.Errorf("%s: %s: dry run %+v, push %+v", what, d.Workflow, d, got)
		}
		if d.Trigger {
			runs++
		}
	}
	if len(stored) > len(x.Decisions) {
		t.Errorf("%s: the push recorded %d decisions for %d workflows", what, len(stored), len(x.Decisions))
	}
	if runs != len(res[0].Runs) {
		t.Errorf("%s: dry run triggers %d workflows, the push started %d runs", what, runs, len(res[0].Runs))
	}
	return x.Decisions
}
