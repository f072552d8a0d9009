package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/expr"
)

// TestDelayedEventSpendsOneExpressionBudget: through a non-admin token, a tenant puts
// twenty workflows whose trigger expression costs near the cost limit on the event (a
// comprehension of 180,000 steps). A delayed push of that event, delivered by the engine
// later, evaluates what the event's budget pays for (10 to 12 expressions); every other
// workflow's decision is expression_error with the budget's reason; the event is
// delivered once, with its runs.
func TestDelayedEventSpendsOneExpressionBudget(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := nonAdmin(b.c)
		const n = 20
		for i := range n {
			c.putWorkflow(map[string]any{"name": fmt.Sprintf("heavy-%02d", i), "steps": []any{map[string]any{"name": "s"}},
				"triggers": []any{map[string]any{"key": "heavy:x", "expression": "input.items.all(x, x >= 0)"}}})
		}
		res := c.must(201, "POST", "/api/v1/events", map[string]any{"key": "heavy:x", "payload": map[string]any{"items": make([]int, 180_000)}, "delay": "200ms"})
		ev := c.waitDelivered(res["event"].(map[string]any)["id"].(string))
		spent := fmt.Sprintf("the event's expression budget (%d) is spent", expr.EventBudget)
		var refused, evaluated int
		for _, d := range ev["triggers"].([]any) {
			m := d.(map[string]any)
			msg, _ := m["error"].(string)
			switch {
			case m["skipped"] == "expression_error" && strings.Contains(msg, spent):
				refused++
			case m["run_id"] != nil || strings.Contains(msg, "ran longer than"):
				evaluated++ // a loaded machine may stop one at its deadline
			default:
				t.Errorf("decision %v", m)
			}
		}
		if evaluated < 10 || evaluated > 12 || refused != n-evaluated {
			t.Fatalf("%d expressions evaluated, %d refused for the budget; want 10 to 12 evaluated, the rest refused", evaluated, refused)
		}
	})
}

// TestTriggerAndFilterCapsAnswer400: a workflow with more than engine.MaxTriggers
// triggers is refused with 400 naming "triggers" and not saved; a filter past
// engine.MaxFiltersPerScope of its scope with 400 naming "scope".
func TestTriggerAndFilterCapsAnswer400(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := nonAdmin(b.c)
		trig := make([]any, engine.MaxTriggers+1)
		for i := range trig {
			trig[i] = map[string]any{"key": fmt.Sprintf("cap:%d", i), "expression": "true"}
		}
		def := map[string]any{"name": "capped", "triggers": trig, "steps": []any{map[string]any{"name": "s"}}}
		r := c.do("PUT", "/api/v1/workflows/capped", def)
		if code, field := r.errCodeField(t); r.status != 400 || field != "triggers" {
			t.Fatalf("%d triggers: %d %s %s, want 400 naming triggers", len(trig), r.status, code, field)
		}
		c.must(404, "GET", "/api/v1/workflows/capped", nil)
		def["triggers"] = trig[:engine.MaxTriggers]
		c.putWorkflow(def)
		for i := range engine.MaxFiltersPerScope {
			c.must(201, "POST", "/api/v1/workflows/capped/filters", map[string]any{"scope": "acme", "expression": fmt.Sprintf("input.n == %d", i)})
		}
		r = c.do("POST", "/api/v1/workflows/capped/filters", map[string]any{"scope": "acme"})
		if code, field := r.errCodeField(t); r.status != 400 || field != "scope" {
			t.Fatalf("filter past the cap: %d %s %s, want 400 naming scope", r.status, code, field)
		}
		list := c.must(200, "GET", "/api/v1/workflows/capped/filters?scope=acme&limit=500", nil)
		if got := len(items(list)); got != engine.MaxFiltersPerScope {
			t.Fatalf("%d filters of the scope, want %d", got, engine.MaxFiltersPerScope)
		}
	})
}
