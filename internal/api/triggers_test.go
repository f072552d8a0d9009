package api_test

import (
	"testing"
)

func TestWildcardTriggers(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("users", "user:*", "s"))
		b.c.putWorkflow(simpleWorkflow("all", "*", "s"))
		mixed := simpleWorkflow("mixed", "user:created", "s")
		mixed["triggers"] = []string{"user:created", "user:*", "order:paid"}
		b.c.putWorkflow(mixed)
		b.c.putWorkflow(simpleWorkflow("exact", "user:created", "s"))

		p := b.c.push("user:created", nil)
		runs := runIDs(p)
		if len(runs) != 4 || len(p["runs"].([]any)) != 4 {
			t.Fatalf("user:created runs = %v, want one each of users, all, mixed, exact", p["runs"])
		}
		if n := len(p["event"].(map[string]any)["triggers"].([]any)); n != 4 {
			t.Fatalf("user:created records %d trigger decisions, want 4", n)
		}
		if runs := runIDs(b.c.push("user:deleted", nil)); len(runs) != 3 || runs["exact"] != "" {
			t.Fatalf("user:deleted runs = %v, want users, all, mixed", runs)
		}
		if runs := runIDs(b.c.push("order:paid", nil)); len(runs) != 2 || runs["all"] == "" || runs["mixed"] == "" {
			t.Fatalf("order:paid runs = %v, want all, mixed", runs)
		}
		if runs := runIDs(b.c.push("invoice:sent", nil)); len(runs) != 1 || runs["all"] == "" {
			t.Fatalf("invoice:sent runs = %v, want all", runs)
		}
		// A disabled pattern workflow is recorded as skipped, like an exact one.
		b.c.must(200, "POST", "/api/v1/workflows/users/disable", nil)
		p = b.c.push("user:x", nil)
		var skipped bool
		for _, tr := range p["event"].(map[string]any)["triggers"].([]any) {
			m := tr.(map[string]any)
			skipped = skipped || m["workflow"] == "users" && m["skipped"] == "disabled"
		}
		if !skipped {
			t.Fatalf("disabled pattern workflow not recorded as skipped: %v", p["event"])
		}

		// "*" only as the last character of a trigger; never in an event key.
		for _, bad := range []string{"user:*:x", "*user", "**"} {
			def := simpleWorkflow("bad", bad, "s")
			r := b.c.do("PUT", "/api/v1/workflows/bad", def)
			if r.status != 400 {
				t.Fatalf("trigger %q: status %d, want 400: %s", bad, r.status, r.body)
			}
			if _, field := r.errCodeField(t); field != "triggers[0]" {
				t.Fatalf("trigger %q: field %q, want triggers[0]", bad, field)
			}
		}
		r := b.c.do("POST", "/api/v1/events", `{"key":"user:*"}`)
		if r.status != 400 {
			t.Fatalf("event key with *: status %d, want 400", r.status)
		}
		if _, field := r.errCodeField(t); field != "key" {
			t.Fatalf("event key with *: field %q, want key", field)
		}
	})
}

func TestDryRunExplainsEveryWorkflowAndStoresNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("exact", "user:created", "s"))
		b.c.putWorkflow(simpleWorkflow("pattern", "user:*", "s"))
		b.c.putWorkflow(simpleWorkflow("off", "user:created", "s"))
		b.c.must(200, "POST", "/api/v1/workflows/off/disable", nil)
		b.c.putWorkflow(simpleWorkflow("orders", "order:paid", "s"))
		manual := simpleWorkflow("manual", "x", "s")
		manual["triggers"] = []string{}
		b.c.putWorkflow(manual)

		x := b.c.must(200, "POST", "/api/v1/events", map[string]any{"key": "user:created", "payload": map[string]any{"a": 1}, "dry_run": true})
		if x["dry_run"] != true || x["key"] != "user:created" {
			t.Fatalf("dry run reply = %v", x)
		}
		got := map[string]map[string]any{}
		var order []string
		for _, d := range x["workflows"].([]any) {
			m := d.(map[string]any)
			got[m["workflow"].(string)] = m
			order = append(order, m["workflow"].(string))
		}
		if len(got) != 5 || order[0] != "exact" || order[4] != "pattern" {
			t.Fatalf("dry run lists %v, want all 5 workflows by name", order)
		}
		want := map[string]struct {
			trigger bool
			reason  string
			matched int
		}{
			"exact":   {true, "", 1},
			"pattern": {true, "", 1},
			"off":     {false, "disabled", 1},
			"orders":  {false, "key_mismatch", 0},
			"manual":  {false, "no_triggers", 0},
		}
		for name, w := range want {
			d := got[name]
			reason, _ := d["reason"].(string)
			if d["trigger"] != w.trigger || reason != w.reason || len(d["matched_triggers"].([]any)) != w.matched {
				t.Errorf("%s: %v, want trigger %v reason %q", name, d, w.trigger, w.reason)
			}
		}
		// Nothing was stored.
		if n := len(items(b.c.must(200, "GET", "/api/v1/events", nil))); n != 0 {
			t.Fatalf("%d events stored by a dry run", n)
		}
		if n := len(items(b.c.must(200, "GET", "/api/v1/runs", nil))); n != 0 {
			t.Fatalf("%d runs stored by a dry run", n)
		}
		// Bad input is still refused.
		r := b.c.do("POST", "/api/v1/events", `{"key":"bad key","dry_run":true}`)
		if _, field := r.errCodeField(t); r.status != 400 || field != "key" {
			t.Fatalf("bad key dry run: %d %s", r.status, r.body)
		}
		// A live idempotency key is reported; the dry run does not consume a free one.
		b.c.must(201, "POST", "/api/v1/events", map[string]any{"key": "order:paid", "idempotency_key": "o1"})
		x = b.c.must(200, "POST", "/api/v1/events", map[string]any{"key": "order:paid", "idempotency_key": "o1", "dry_run": true})
		if x["duplicate_of"] == nil {
			t.Fatalf("dry run with a live key = %v, want duplicate_of", x)
		}
		b.c.must(200, "POST", "/api/v1/events", map[string]any{"key": "order:paid", "idempotency_key": "o2", "dry_run": true})
		b.c.must(201, "POST", "/api/v1/events", map[string]any{"key": "order:paid", "idempotency_key": "o2"})
	})
}
