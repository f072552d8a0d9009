package engine_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
)

// triggerEngine is a started engine on a real store and the tenant of its admin token.
type triggerEngine struct {
	eng    *engine.Engine
	st     store.Store
	tenant string
}

// forEachEngine runs test against an engine on SQLite, and on PostgreSQL when
// HERALD_TEST_DATABASE_URL is set.
func forEachEngine(t *testing.T, test func(t *testing.T, te triggerEngine)) {
	t.Parallel()
	open := map[string]func(t *testing.T) store.Store{
		"sqlite":   openStore,
		"postgres": func(t *testing.T) store.Store { return openPostgres(t) },
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := open[name](t)
			eng, tenant := startEngine(t, st, engine.Config{})
			test(t, triggerEngine{eng: eng, st: st, tenant: tenant})
		})
	}
}

// triggerRow is one row of the truth table in docs/triggers.md: a workflow (triggers,
// state, filters), an event, and what the event must do to the workflow. Keys are
// relative: the row's id and "." are put before every trigger and event key, so that
// rows do not see each other.
type triggerRow struct {
	id       string
	triggers []store.Trigger
	disabled bool
	filters  []engine.FilterSpec
	schema   string // a JSON Schema registered for the event key

	key, scope, payload, meta string

	trigger bool
	reason  string
	message string // a substring of the expected message
	filter  int    // index of the filter that lets the event through, or -1
	input   string // the run's expected input (JSON), when it triggers
}

func plain(keys ...string) []store.Trigger { return store.PlainTriggers(keys...) }

func cond(key, expr string) store.Trigger { return store.Trigger{Key: key, Expression: expr} }

func acme(expr, payload string) engine.FilterSpec {
	return filterSpec("acme", expr, payload)
}

func filterSpec(scope, expr, payload string) engine.FilterSpec {
	f := engine.FilterSpec{Scope: scope, Expression: expr}
	if payload != "" {
		f.Payload = json.RawMessage(payload)
	}
	return f
}

// triggerTable mirrors the truth table of docs/triggers.md, row for row.
var triggerTable = []triggerRow{
	{id: "t01", triggers: plain("order:paid"), key: "order:paid", payload: `{"amount":5}`,
		trigger: true, filter: -1, input: `{"amount":5}`},
	{id: "t02", triggers: plain("order:paid"), key: "order:paid", scope: "acme", payload: `{"amount":5}`,
		trigger: true, filter: -1, input: `{"amount":5}`},
	{id: "t03", triggers: plain("order:paid"), key: "order:refunded",
		reason: engine.ReasonKeyMismatch, filter: -1},
	{id: "t04", key: "order:paid", reason: engine.ReasonNoTriggers, filter: -1},
	{id: "t05", triggers: []store.Trigger{cond("order:paid", "input.missing.field")}, disabled: true,
		filters: []engine.FilterSpec{acme("", "")}, key: "order:paid", scope: "acme",
		reason: engine.ReasonDisabled, filter: -1},
	{id: "t06", triggers: []store.Trigger{cond("order:paid", "input.amount > 100")}, key: "order:paid", payload: `{"amount":150}`,
		trigger: true, filter: -1, input: `{"amount":150}`},
	{id: "t07", triggers: []store.Trigger{cond("order:paid", "input.amount > 100")}, key: "order:paid", payload: `{"amount":50.5}`,
		reason: engine.ReasonExpressionFalse, filter: -1},
	{id: "t08", triggers: []store.Trigger{cond("order:paid", "input.amount > 100")}, key: "order:paid", payload: `{}`,
		reason: engine.ReasonExpressionError, message: "no such key: amount", filter: -1},
	{id: "t09", triggers: []store.Trigger{cond("order:paid", "input.amount > 100"), {Key: "order:*"}}, key: "order:paid",
		payload: `{"amount":50}`, trigger: true, filter: -1, input: `{"amount":50}`},
	{id: "t10", triggers: []store.Trigger{cond("order:paid", "input.missing == 1"), cond("order:*", "input.amount > 10")},
		key: "order:paid", payload: `{"amount":50}`, trigger: true, message: "no such key: missing", filter: -1, input: `{"amount":50}`},
	{id: "t11", triggers: []store.Trigger{cond("order:*", `additional_metadata.tier == "gold" && key.endsWith(":paid") && scope == ""`)},
		key: "order:paid", meta: `{"tier":"gold"}`, trigger: true, filter: -1, input: `{}`},
	{id: "t12", triggers: plain("order:paid"), filters: []engine.FilterSpec{acme("", `{"tier":"gold"}`)},
		key: "order:paid", scope: "acme", payload: `{"amount":1,"tier":"basic"}`,
		trigger: true, filter: 0, input: `{"amount":1,"tier":"gold"}`},
	{id: "t13", triggers: plain("order:paid"), filters: []engine.FilterSpec{acme("input.amount > 100", "")},
		key: "order:paid", scope: "acme", payload: `{"amount":150}`, trigger: true, filter: 0, input: `{"amount":150}`},
	{id: "t14", triggers: plain("order:paid"), filters: []engine.FilterSpec{acme("input.amount > 100", "")},
		key: "order:paid", scope: "acme", payload: `{"amount":50}`, reason: engine.ReasonExpressionFalse, filter: -1},
	{id: "t15", triggers: plain("order:paid"), filters: []engine.FilterSpec{acme("input.amount > 100", "")},
		key: "order:paid", scope: "acme", payload: `{}`, reason: engine.ReasonExpressionError, message: "no such key: amount", filter: -1},
	{id: "t16", triggers: plain("order:paid"), filters: []engine.FilterSpec{acme("", "")},
		key: "order:paid", scope: "globex", reason: engine.ReasonScopeMismatch, filter: -1},
	{id: "t17", triggers: plain("order:paid"), filters: []engine.FilterSpec{acme("", "")},
		key: "order:paid", reason: engine.ReasonScopeMismatch, filter: -1},
	{id: "t18", triggers: plain("order:paid"), filters: []engine.FilterSpec{acme("", `{"which":"older"}`), acme("true", `{"which":"newer"}`)},
		key: "order:paid", scope: "acme", trigger: true, filter: 0, input: `{"which":"older"}`},
	{id: "t19", triggers: plain("order:paid"), filters: []engine.FilterSpec{acme("input.amount > 100", `{"which":"older"}`), acme("", `{"which":"newer"}`)},
		key: "order:paid", scope: "acme", payload: `{"amount":1}`, trigger: true, filter: 1, input: `{"amount":1,"which":"newer"}`},
	{id: "t20", triggers: []store.Trigger{cond("order:paid", "input.amount > 100")}, filters: []engine.FilterSpec{acme("", "")},
		key: "order:paid", scope: "acme", payload: `{"amount":1}`, reason: engine.ReasonExpressionFalse, filter: -1},
	{id: "t21", triggers: plain("order:paid"), schema: `{"type":"object","required":["amount"]}`,
		key: "order:paid", payload: `{}`, reason: engine.ReasonSchemaViolation, message: "payload/amount", filter: -1},
}

// TestTriggerTruthTable checks every row of the truth table in docs/triggers.md, both by
// a dry run (Explain) and by a real push (the decision stored on the event, and the run's
// input), and that the two agree.
func TestTriggerTruthTable(t *testing.T) {
	forEachEngine(t, func(t *testing.T, te triggerEngine) {
		ctx := context.Background()
		filterIDs := map[string][]string{}
		for _, r := range triggerTable {
			def := store.WorkflowDef{Name: r.id, Steps: []store.StepDef{{Name: "s"}}}
			for _, tr := range r.triggers {
				tr.Key = r.id + "." + tr.Key
				def.Triggers = append(def.Triggers, tr)
			}
			if _, _, err := te.eng.PutWorkflow(ctx, te.tenant, def); err != nil {
				t.Fatalf("%s: PutWorkflow: %v", r.id, err)
			}
			for _, f := range r.filters {
				sf, err := te.eng.CreateFilter(ctx, te.tenant, r.id, f)
				if err != nil {
					t.Fatalf("%s: CreateFilter: %v", r.id, err)
				}
				filterIDs[r.id] = append(filterIDs[r.id], sf.ID)
			}
			if r.disabled {
				if _, err := te.eng.SetWorkflowActive(ctx, te.tenant, r.id, false); err != nil {
					t.Fatal(err)
				}
			}
			if r.schema != "" {
				if _, _, err := te.eng.PutEventSchema(ctx, te.tenant, r.id+"."+r.key, json.RawMessage(r.schema)); err != nil {
					t.Fatalf("%s: PutEventSchema: %v", r.id, err)
				}
			}
		}
		for _, r := range triggerTable {
			t.Run(r.id, func(t *testing.T) {
				in := engine.EventInput{Key: r.id + "." + r.key, Scope: r.scope}
				if r.payload != "" {
					in.Payload = json.RawMessage(r.payload)
				}
				if r.meta != "" {
					in.Metadata = json.RawMessage(r.meta)
				}
				wantFilter := ""
				if r.filter >= 0 {
					wantFilter = filterIDs[r.id][r.filter]
				}

				// The dry run.
				x, err := te.eng.Explain(ctx, te.tenant, in)
				if err != nil {
					t.Fatalf("Explain: %v", err)
				}
				var d *engine.Decision
				for i := range x.Decisions {
					if x.Decisions[i].Workflow == r.id {
						d = &x.Decisions[i]
					}
				}
				if d == nil {
					t.Fatalf("dry run has no decision for %s: %+v", r.id, x.Decisions)
				}
				if d.Trigger != r.trigger || d.Reason != r.reason || d.FilterID != wantFilter || !strings.Contains(d.Message, r.message) ||
					(r.message == "" && d.Message != "") {
					t.Errorf("dry run = %+v, want trigger %v reason %q message ~%q filter %q", *d, r.trigger, r.reason, r.message, wantFilter)
				}

				// The real push.
				res, err := te.eng.Push(ctx, te.tenant, []engine.EventInput{in}, false)
				if r.reason == engine.ReasonSchemaViolation {
					if err == nil {
						t.Fatalf("push of a payload violating its schema was accepted")
					}
					return
				}
				if err != nil {
					t.Fatalf("Push: %v", err)
				}
				var got *store.TriggerDecision
				for i, td := range res[0].Event.Triggers {
					if td.Workflow == r.id {
						got = &res[0].Event.Triggers[i]
					}
				}
				stored, err := te.st.EventGet(ctx, te.tenant, res[0].Event.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(stored.Triggers, res[0].Event.Triggers) {
					t.Errorf("stored decisions %+v differ from the reply's %+v", stored.Triggers, res[0].Event.Triggers)
				}
				if r.reason == engine.ReasonKeyMismatch || r.reason == engine.ReasonNoTriggers {
					if got != nil {
						t.Errorf("event records %+v for a workflow whose key does not match", *got)
					}
					return
				}
				if got == nil {
					t.Fatalf("event records no decision for %s: %+v", r.id, res[0].Event.Triggers)
				}
				if (got.RunID != "") != r.trigger || got.Skipped != r.reason || got.FilterID != wantFilter ||
					!strings.Contains(got.Error, r.message) || (r.message == "" && got.Error != "") {
					t.Errorf("stored decision = %+v, want trigger %v skipped %q error ~%q filter %q", *got, r.trigger, r.reason, r.message, wantFilter)
				}
				// The dry run and the push agree.
				if d.Trigger != (got.RunID != "") || d.Reason != got.Skipped || d.Message != got.Error || d.FilterID != got.FilterID {
					t.Errorf("dry run %+v and push %+v disagree", *d, *got)
				}
				if !r.trigger {
					return
				}
				run, _, err := te.st.RunGet(ctx, te.tenant, got.RunID)
				if err != nil {
					t.Fatal(err)
				}
				if !jsonEqual(t, run.Input, r.input) {
					t.Errorf("run input = %s, want %s", run.Input, r.input)
				}
			})
		}
	})
}

func jsonEqual(t *testing.T, a json.RawMessage, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("decoding %s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
