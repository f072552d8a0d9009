package api_test

import (
	"strings"
	"testing"
)

// TestTriggerExpressionsOverHTTP pins the wire form of triggers: plain strings and objects
// mix in one list and read back as written, a bad expression is refused with 400 naming
// the trigger's expression and carrying CEL's message (and changes nothing), and an
// expression's decision shows on the event.
func TestTriggerExpressionsOverHTTP(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		def := simpleWorkflow("big-orders", "order:refunded", "s")
		def["triggers"] = []any{"order:refunded", map[string]any{"key": "order:*", "expression": "input.amount > 100"}}
		b.c.putWorkflow(def)
		wf := b.c.must(200, "GET", "/api/v1/workflows/big-orders", nil)
		trig := wf["triggers"].([]any)
		if len(trig) != 2 || trig[0] != "order:refunded" || trig[1].(map[string]any)["expression"] != "input.amount > 100" ||
			trig[1].(map[string]any)["key"] != "order:*" {
			t.Fatalf("triggers read back as %v", trig)
		}
		// Putting the same definition again is no new version.
		if r := b.c.must(200, "PUT", "/api/v1/workflows/big-orders", def); r["created_version"] != false {
			t.Fatalf("same definition made a new version: %v", r)
		}

		for _, tc := range []struct {
			trigger any
			field   string
			msg     string
		}{
			{map[string]any{"key": "order:*", "expression": "input.amount >"}, "triggers[1].expression", "Syntax error"},
			{map[string]any{"key": "order:*", "expression": "nope.amount > 1"}, "triggers[1].expression", "undeclared reference to 'nope'"},
			{map[string]any{"key": "order:*", "expression": "input.flag"}, "", ""}, // dyn: checked when run
			{map[string]any{"key": "order:*", "expression": "'text'"}, "triggers[1].expression", "must give a bool"},
			{map[string]any{"key": "order:*", "expression": "input.amount + 1"}, "triggers[1].expression", "must give a bool"},
			{map[string]any{"key": "order:*:x", "expression": "true"}, "triggers[1].key", "contains '*'"},
			{map[string]any{"key": "order:*", "expression": "true", "when": "x"}, "", "unknown field"},
			{42, "", "a trigger is a string or an object"},
		} {
			bad := simpleWorkflow("bad", "x", "s")
			bad["triggers"] = []any{"x", tc.trigger}
			r := b.c.do("PUT", "/api/v1/workflows/bad", bad)
			if tc.field == "" && tc.msg == "" {
				if r.status != 200 {
					t.Fatalf("trigger %v: status %d: %s", tc.trigger, r.status, r.body)
				}
				continue
			}
			if r.status != 400 {
				t.Fatalf("trigger %v: status %d, want 400: %s", tc.trigger, r.status, r.body)
			}
			if _, field := r.errCodeField(t); field != tc.field {
				t.Errorf("trigger %v: field %q, want %q (%s)", tc.trigger, field, tc.field, r.body)
			}
			if !strings.Contains(string(r.body), tc.msg) {
				t.Errorf("trigger %v: message %s does not say %q", tc.trigger, r.body, tc.msg)
			}
		}
		// The refused definitions changed nothing: "bad" is still the one accepted version.
		if v := b.c.must(200, "GET", "/api/v1/workflows/bad", nil)["version"]; v != float64(1) {
			t.Fatalf("bad workflow at version %v after refused puts, want 1", v)
		}

		if runs := runIDs(b.c.push("order:paid", map[string]any{"amount": 150})); runs["big-orders"] == "" {
			t.Fatalf("amount 150 did not trigger: %v", runs)
		}
		p := b.c.push("order:paid", map[string]any{"amount": 50})
		if d := decisionOf(t, p["event"].(map[string]any), "big-orders"); d["skipped"] != "expression_false" {
			t.Fatalf("amount 50: decision %v, want skipped expression_false", d)
		}
		p = b.c.push("order:paid", map[string]any{"total": 50})
		ev := b.c.must(200, "GET", "/api/v1/events/"+p["event"].(map[string]any)["id"].(string), nil)
		d := decisionOf(t, ev, "big-orders")
		if d["skipped"] != "expression_error" || !strings.Contains(d["error"].(string), "no such key: amount") {
			t.Fatalf("missing field: stored decision %v, want skipped expression_error with CEL's message", d)
		}
	})
}

// TestFiltersOverHTTP covers the filter endpoints: create, get, list (by scope, paged),
// delete; validation (400 naming the field, nothing stored); 404 for unknown workflows
// and for another tenant's filters; and scoped pushes, in single, bulk and dry runs.
func TestFiltersOverHTTP(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("invoice", "invoice:*", "s"))
		base := "/api/v1/workflows/invoice/filters"

		for _, tc := range []struct {
			body  string
			field string
		}{
			{`{"expression":"true"}`, "scope"},
			{`{"scope":"acme","expression":"input.total >"}`, "expression"},
			{`{"scope":"acme","expression":"1 + 1"}`, "expression"},
			{`{"scope":"acme","payload":[1]}`, "payload"},
			{`{"scope":"acme","payload":"x"}`, "payload"},
			{`{"scope":"a\u0001b"}`, "scope"},
			{`{"scope":"acme","extra":1}`, "extra"},
		} {
			r := b.c.do("POST", base, tc.body)
			if r.status != 400 {
				t.Fatalf("%s: status %d, want 400: %s", tc.body, r.status, r.body)
			}
			if _, field := r.errCodeField(t); field != tc.field {
				t.Errorf("%s: field %q, want %q", tc.body, field, tc.field)
			}
		}
		if n := len(items(b.c.must(200, "GET", base, nil))); n != 0 {
			t.Fatalf("refused filters stored %d", n)
		}
		if r := b.c.do("POST", "/api/v1/workflows/nope/filters", `{"scope":"acme"}`); r.status != 404 {
			t.Fatalf("filter on an unknown workflow: status %d, want 404", r.status)
		}
		if r := b.c.do("GET", "/api/v1/workflows/nope/filters", nil); r.status != 404 {
			t.Fatalf("filters of an unknown workflow: status %d, want 404", r.status)
		}

		gold := b.c.must(201, "POST", base, map[string]any{"scope": "acme", "expression": "input.total > 100", "payload": map[string]any{"tier": "gold"}})
		plainF := b.c.must(201, "POST", base, map[string]any{"scope": "acme"})
		globex := b.c.must(201, "POST", base, map[string]any{"scope": "globex", "payload": map[string]any{"region": "eu"}})
		if gold["workflow"] != "invoice" || gold["scope"] != "acme" || gold["payload"].(map[string]any)["tier"] != "gold" || gold["id"] == "" {
			t.Fatalf("created filter = %v", gold)
		}
		if got := b.c.must(200, "GET", base+"/"+gold["id"].(string), nil); got["expression"] != "input.total > 100" {
			t.Fatalf("GET filter = %v", got)
		}
		page := b.c.must(200, "GET", base+"?scope=acme&limit=1", nil)
		if it := items(page); len(it) != 1 || it[0]["id"] != plainF["id"] || page["next_cursor"] == nil {
			t.Fatalf("first page of acme filters = %v, want the newest and a cursor", page)
		}
		page = b.c.must(200, "GET", base+"?scope=acme&limit=1&cursor="+page["next_cursor"].(string), nil)
		if it := items(page); len(it) != 1 || it[0]["id"] != gold["id"] || page["next_cursor"] != nil {
			t.Fatalf("second page of acme filters = %v, want the oldest and no cursor", page)
		}

		// Another tenant sees none of it.
		b.c.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "other"})
		other := b.c.with(b.c.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "o", "tenant": "other"})["secret"].(string))
		other.putWorkflow(simpleWorkflow("invoice", "invoice:*", "s"))
		for _, m := range []string{"GET", "DELETE"} {
			if r := other.do(m, base+"/"+gold["id"].(string), nil); r.status != 404 {
				t.Fatalf("%s another tenant's filter: status %d, want 404", m, r.status)
			}
		}

		// acme with a big total: the oldest passing filter (gold) gives its payload.
		p := b.c.must(201, "POST", "/api/v1/events", map[string]any{"key": "invoice:paid", "scope": "acme", "payload": map[string]any{"total": 500}})
		ev := p["event"].(map[string]any)
		if ev["scope"] != "acme" {
			t.Fatalf("event scope = %v", ev["scope"])
		}
		d := decisionOf(t, ev, "invoice")
		if d["filter_id"] != gold["id"] || d["run_id"] == nil {
			t.Fatalf("decision %v, want a run through filter %v", d, gold["id"])
		}
		if in := b.c.run(d["run_id"].(string))["input"].(map[string]any); in["tier"] != "gold" || in["total"] != float64(500) {
			t.Fatalf("run input %v, want the payload with tier gold", in)
		}
		// No scope: scope_mismatch, on the stored event too.
		p = b.c.must(201, "POST", "/api/v1/events", map[string]any{"key": "invoice:paid", "payload": map[string]any{"total": 500}})
		id := p["event"].(map[string]any)["id"].(string)
		if d := decisionOf(t, b.c.must(200, "GET", "/api/v1/events/"+id, nil), "invoice"); d["skipped"] != "scope_mismatch" {
			t.Fatalf("unscoped event: decision %v, want scope_mismatch", d)
		}
		// Bulk carries scopes per event.
		bulk := b.c.must(201, "POST", "/api/v1/events/bulk", map[string]any{"events": []any{
			map[string]any{"key": "invoice:a", "scope": "globex"},
			map[string]any{"key": "invoice:b", "scope": "initech"},
		}})
		its := items(bulk)
		if d := decisionOf(t, its[0]["event"].(map[string]any), "invoice"); d["filter_id"] != globex["id"] {
			t.Fatalf("bulk globex: decision %v", d)
		}
		if d := decisionOf(t, its[1]["event"].(map[string]any), "invoice"); d["skipped"] != "scope_mismatch" {
			t.Fatalf("bulk initech: decision %v", d)
		}
		if r := b.c.do("POST", "/api/v1/events/bulk", map[string]any{"events": []any{map[string]any{"key": "k", "scope": strings.Repeat("s", 1025)}}}); r.status != 400 {
			t.Fatalf("bulk with a long scope: status %d, want 400", r.status)
		} else if _, field := r.errCodeField(t); field != "events[0].scope" {
			t.Fatalf("bulk with a long scope: field %q", field)
		}

		// The dry run explains the same, with messages.
		x := b.c.must(200, "POST", "/api/v1/events", map[string]any{"key": "invoice:paid", "scope": "acme", "payload": map[string]any{}, "dry_run": true})
		var wd map[string]any
		for _, w := range x["workflows"].([]any) {
			if m := w.(map[string]any); m["workflow"] == "invoice" {
				wd = m
			}
		}
		// gold's expression fails on {} (no total), then the plain acme filter passes.
		if wd["trigger"] != true || wd["filter_id"] != plainF["id"] || !strings.Contains(wd["message"].(string), "no such key: total") {
			t.Fatalf("dry run decision %v, want triggered by the plain filter, with gold's error", wd)
		}

		// Deleting a filter takes effect at once.
		b.c.must(204, "DELETE", base+"/"+plainF["id"].(string), nil)
		b.c.must(204, "DELETE", base+"/"+gold["id"].(string), nil)
		if r := b.c.do("DELETE", base+"/"+gold["id"].(string), nil); r.status != 404 {
			t.Fatalf("deleting twice: status %d, want 404", r.status)
		}
		p = b.c.must(201, "POST", "/api/v1/events", map[string]any{"key": "invoice:paid", "scope": "acme"})
		if d := decisionOf(t, p["event"].(map[string]any), "invoice"); d["skipped"] != "scope_mismatch" {
			t.Fatalf("after deleting acme's filters: decision %v, want scope_mismatch", d)
		}
		b.c.must(204, "DELETE", base+"/"+globex["id"].(string), nil)
		// Without filters the workflow is triggered whatever the scope.
		if runs := runIDs(b.c.must(201, "POST", "/api/v1/events", map[string]any{"key": "invoice:paid", "scope": "acme"})); runs["invoice"] == "" {
			t.Fatalf("workflow without filters not triggered: %v", runs)
		}
	})
}

// decisionOf returns an event's trigger decision for a workflow.
func decisionOf(t *testing.T, ev map[string]any, workflow string) map[string]any {
	t.Helper()
	for _, d := range ev["triggers"].([]any) {
		if m := d.(map[string]any); m["workflow"] == workflow {
			return m
		}
	}
	t.Fatalf("event has no decision for %s: %v", workflow, ev["triggers"])
	return nil
}
