package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/expr"
	"github.com/heraldhq/herald/internal/store"
)

// TestOnePushSpendsOneBudget: a tenant puts 25 workflows whose trigger expression costs
// near the cost limit over the event (a comprehension of 180,000 steps), and one more
// with a plain trigger. One push evaluates about ten of the expressions — as many as the
// event's budget (expr.EventBudget) pays for — and records each of the others as
// expression_error with the budget's reason, without evaluating it; the event is stored
// with every decision, the workflows whose expression was true start, and so does the
// plain one. (Without the budget, the push evaluated all 25.) The same holds for a dry
// run.
func TestOnePushSpendsOneBudget(t *testing.T) {
	forEachEngine(t, func(t *testing.T, te triggerEngine) {
		ctx := context.Background()
		const n = 25
		// Put in reverse order of names: both a push and a dry run decide them by name.
		for i := n - 1; i >= 0; i-- {
			def := store.WorkflowDef{Name: fmt.Sprintf("heavy-%02d", i), Steps: []store.StepDef{{Name: "s"}},
				Triggers: []store.Trigger{{Key: "heavy:x", Expression: `input.items.all(x, x >= 0)`}}}
			if _, _, err := te.eng.PutWorkflow(ctx, te.tenant, def); err != nil {
				t.Fatal(err)
			}
		}
		plainDef := store.WorkflowDef{Name: "plain", Triggers: plain("heavy:x"), Steps: []store.StepDef{{Name: "s"}}}
		if _, _, err := te.eng.PutWorkflow(ctx, te.tenant, plainDef); err != nil {
			t.Fatal(err)
		}
		payload, err := json.Marshal(map[string]any{"items": make([]int, 180_000)})
		if err != nil {
			t.Fatal(err)
		}
		spent := fmt.Sprintf("the event's expression budget (%d) is spent", expr.EventBudget)

		check := func(what string, decisions []decision) {
			t.Helper()
			var refused, evaluated int
			plainRan := false
			for _, d := range decisions {
				switch {
				case d.workflow == "plain":
					plainRan = d.triggered
				case d.reason == engine.ReasonExpressionError && strings.Contains(d.message, spent):
					refused++
				case d.triggered:
					evaluated++
				case d.reason == engine.ReasonExpressionError && strings.Contains(d.message, "ran longer than"):
					// A loaded machine may stop an evaluation at its deadline: it was
					// evaluated all the same (and charged the cost limit).
					evaluated++
				default:
					t.Errorf("%s: %s: %+v", what, d.workflow, d)
				}
			}
			if len(decisions) != n+1 || !plainRan {
				t.Fatalf("%s: %d decisions (want %d), plain workflow triggered %v", what, len(decisions), n+1, plainRan)
			}
			// Each evaluation costs about 900,000 (at most the cost limit, at least half
			// of it): 10 to 12 fit in the budget, the last one started with budget left.
			if evaluated < 10 || evaluated > 12 || refused != n-evaluated {
				t.Fatalf("%s: %d expressions evaluated, %d refused for the budget; want 10 to 12 evaluated, the rest refused", what, evaluated, refused)
			}
		}

		res, err := te.eng.Push(ctx, te.tenant, []engine.EventInput{{Key: "heavy:x", Payload: payload}}, false)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := te.st.EventGet(ctx, te.tenant, res[0].Event.ID)
		if err != nil {
			t.Fatal(err)
		}
		var ds []decision
		for _, d := range stored.Triggers {
			ds = append(ds, decision{workflow: d.Workflow, triggered: d.RunID != "", reason: d.Skipped, message: d.Error})
		}
		check("push", ds)
		pushed := ds
		if len(res[0].Runs) != countTriggered(ds) {
			t.Fatalf("the push answered %d runs; the stored event says %d", len(res[0].Runs), countTriggered(ds))
		}

		ex, err := te.eng.Explain(ctx, te.tenant, engine.EventInput{Key: "heavy:x", Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		ds = nil
		for _, d := range ex.Decisions {
			ds = append(ds, decision{workflow: d.Workflow, triggered: d.Trigger, reason: d.Reason, message: d.Message})
		}
		check("dry run", ds)
		// A dry run evaluates in the push's order, so the budget reaches the same
		// workflows (unless a loaded machine stopped one at its deadline, which is charged
		// the whole cost limit).
		if !timedOut(pushed) && !timedOut(ds) && !sameTriggered(pushed, ds) {
			t.Fatalf("the dry run and the push disagree:\npush %+v\ndry run %+v", pushed, ds)
		}
	})
}

// decision is what an event did (or a dry run says it would do) to one workflow.
type decision struct {
	workflow        string
	triggered       bool
	reason, message string
}

func timedOut(ds []decision) bool {
	for _, d := range ds {
		if strings.Contains(d.message, "ran longer than") {
			return true
		}
	}
	return false
}

// sameTriggered reports whether a and b trigger the same workflows.
func sameTriggered(a, b []decision) bool {
	set := func(ds []decision) map[string]bool {
		m := map[string]bool{}
		for _, d := range ds {
			m[d.workflow] = d.triggered
		}
		return m
	}
	return reflect.DeepEqual(set(a), set(b))
}

func countTriggered(ds []decision) int {
	n := 0
	for _, d := range ds {
		if d.triggered {
			n++
		}
	}
	return n
}

// TestWorkflowTriggersAndScopeFiltersAreCapped: a workflow takes at most
// engine.MaxTriggers triggers, and engine.MaxFiltersPerScope filters of one scope (other
// scopes have their own count); more are refused naming the field, and nothing is saved.
func TestWorkflowTriggersAndScopeFiltersAreCapped(t *testing.T) {
	forEachEngine(t, func(t *testing.T, te triggerEngine) {
		ctx := context.Background()
		many := make([]store.Trigger, engine.MaxTriggers+1)
		for i := range many {
			many[i] = store.Trigger{Key: fmt.Sprintf("cap:%d", i), Expression: "true"}
		}
		def := store.WorkflowDef{Name: "capped", Triggers: many, Steps: []store.StepDef{{Name: "s"}}}
		_, _, err := te.eng.PutWorkflow(ctx, te.tenant, def)
		wantField(t, err, "triggers")
		if _, err := te.st.WorkflowGet(ctx, store.WorkflowGetParams{TenantID: te.tenant, Name: "capped"}); err == nil {
			t.Fatal("a refused workflow was saved")
		}
		def.Triggers = many[:engine.MaxTriggers]
		if _, _, err := te.eng.PutWorkflow(ctx, te.tenant, def); err != nil {
			t.Fatalf("%d triggers: %v", engine.MaxTriggers, err)
		}

		for i := range engine.MaxFiltersPerScope {
			if _, err := te.eng.CreateFilter(ctx, te.tenant, "capped", engine.FilterSpec{Scope: "acme", Expression: fmt.Sprintf("input.n == %d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = te.eng.CreateFilter(ctx, te.tenant, "capped", engine.FilterSpec{Scope: "acme", Expression: "true"})
		wantField(t, err, "scope")
		if _, err := te.eng.CreateFilter(ctx, te.tenant, "capped", engine.FilterSpec{Scope: "other"}); err != nil {
			t.Fatalf("another scope: %v", err)
		}
		fs, err := te.st.FilterList(ctx, store.FilterListParams{TenantID: te.tenant, Workflow: "capped", Scope: "acme", Limit: 500})
		if err != nil || len(fs) != engine.MaxFiltersPerScope {
			t.Fatalf("%d filters of the scope stored (%v), want %d", len(fs), err, engine.MaxFiltersPerScope)
		}
	})
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	fe, ok := err.(*engine.FieldError)
	if !ok || fe.Field != field {
		t.Fatalf("got %v, want a field error on %q", err, field)
	}
}

// TestOneBulkPushSpendsOneRequestBudget: the events of one bulk push share the request's
// budget (Config.RequestExprBudget, expr.RequestBudget by default) on top of each event's
// own: with five workflows whose expression costs about a tenth of a million over each
// event and a request budget of a million, a bulk push of six events evaluates about ten
// expressions in all — not the thirty that six event budgets would pay for — and records
// each of the others as expression_error with the request budget's reason. Every event is
// stored with every decision. (Without the request budget, all thirty were evaluated.)
func TestOneBulkPushSpendsOneRequestBudget(t *testing.T) {
	t.Parallel()
	const requestBudget = expr.CostLimit
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var st store.Store
			if name == "sqlite" {
				st = openStore(t)
			} else {
				st = openPostgres(t)
			}
			eng, tenant := startEngine(t, st, engine.Config{RequestExprBudget: requestBudget})
			ctx := context.Background()
			const workflows, events = 5, 6
			for i := range workflows {
				def := store.WorkflowDef{Name: fmt.Sprintf("costly-%d", i), Steps: []store.StepDef{{Name: "s"}},
					Triggers: []store.Trigger{{Key: "bulk:x", Expression: `input.items.all(x, x >= 0)`}}}
				if _, _, err := eng.PutWorkflow(ctx, tenant, def); err != nil {
					t.Fatal(err)
				}
			}
			payload, err := json.Marshal(map[string]any{"items": make([]int, 18_000)})
			if err != nil {
				t.Fatal(err)
			}
			in := make([]engine.EventInput, events)
			for i := range in {
				in[i] = engine.EventInput{Key: "bulk:x", Payload: payload}
			}
			res, err := eng.Push(ctx, tenant, in, true)
			if err != nil {
				t.Fatal(err)
			}
			spent := fmt.Sprintf("the request's expression budget (%d) is spent", requestBudget)
			var evaluated, refused int
			for _, r := range res {
				ev, err := st.EventGet(ctx, tenant, r.Event.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(ev.Triggers) != workflows {
					t.Fatalf("event %s: %d decisions, want %d", ev.ID, len(ev.Triggers), workflows)
				}
				for _, d := range ev.Triggers {
					switch {
					case d.RunID != "" || strings.Contains(d.Error, "ran longer than"):
						evaluated++
					case d.Skipped == engine.ReasonExpressionError && strings.Contains(d.Error, spent):
						refused++
					default:
						t.Errorf("event %s, %s: %+v", ev.ID, d.Workflow, d)
					}
				}
			}
			// Each evaluation costs about 90,000 (and at least half that): 10 to 22 fit in
			// the request's budget, far fewer than the 30 the events' own budgets allow.
			if evaluated < 10 || evaluated > 22 || refused != workflows*events-evaluated {
				t.Fatalf("%d expressions evaluated, %d refused for the request's budget; want 10 to 22 evaluated and the rest refused", evaluated, refused)
			}
		})
	}
}
