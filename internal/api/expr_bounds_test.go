package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// amplifying is an expression that, evaluated on a payload whose s is a long run of "a",
// would build a string of len(s)² bytes: for 1 MB, a terabyte. CEL checks its cost limit
// only after a function returns, so this used to end the process with "fatal error:
// runtime: out of memory" inside strings.Replace.
const amplifying = `input.s.replace("a", input.s).size() > 0`

// megabytePayload is the payload of the report: a 1 MB string of "a", within the body
// limit.
func megabytePayload() map[string]any {
	return map[string]any{"s": strings.Repeat("a", 1_000_000)}
}

// nonAdmin returns a client with a new non-admin token of the tenant.
func nonAdmin(c *client) *client {
	c.t.Helper()
	return c.with(c.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "producer"})["secret"].(string))
}

// amplifyingWorkflows stores, through a non-admin token, a workflow whose trigger
// expression amplifies, one with a filter whose expression does, and one that listens
// to the same key without an expression.
func amplifyingWorkflows(c *client) {
	c.t.Helper()
	c.putWorkflow(map[string]any{"name": "celrep", "triggers": []any{map[string]any{"key": "cel:x", "expression": amplifying}},
		"steps": []any{map[string]any{"name": "s"}}})
	c.putWorkflow(simpleWorkflow("filtered", "cel:x", "s"))
	c.must(201, "POST", "/api/v1/workflows/filtered/filters", map[string]any{"scope": "acme", "expression": amplifying})
	c.putWorkflow(simpleWorkflow("plain", "cel:x", "s"))
}

// checkAmplifyingDecisions checks the stored decisions of an event of key cel:x with the
// megabyte payload: the amplifying trigger and filter are expression_error naming the
// bound that refused them, and the plain workflow ran.
func checkAmplifyingDecisions(t *testing.T, ev map[string]any) {
	t.Helper()
	for _, wf := range []string{"celrep", "filtered"} {
		d := decisionOf(t, ev, wf)
		if d["skipped"] != "expression_error" || !strings.Contains(d["error"].(string), "replace would allocate 931.3 GiB; a call may allocate at most 8.0 MiB") {
			t.Errorf("%s: decision %v, want expression_error naming the allocation bound", wf, d)
		}
	}
	if d := decisionOf(t, ev, "plain"); d["run_id"] == nil || d["skipped"] != nil {
		t.Errorf("plain: decision %v, want a run", d)
	}
}

// TestTriggerAndFilterExpressionsCannotAmplifyMemory: the report's trigger expression,
// put by a non-admin token, on a 1 MB payload (and a filter with the same expression)
// gives expression_error recorded on the event, the other workflow of the key still runs,
// and the process is still up.
func TestTriggerAndFilterExpressionsCannotAmplifyMemory(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := nonAdmin(b.c)
		amplifyingWorkflows(c)
		res := c.must(201, "POST", "/api/v1/events", map[string]any{"key": "cel:x", "scope": "acme", "payload": megabytePayload()})
		if runs := runIDs(res); len(runs) != 1 || runs["plain"] == "" {
			t.Fatalf("runs %v, want only plain's", runs)
		}
		ev := c.must(200, "GET", "/api/v1/events/"+res["event"].(map[string]any)["id"].(string), nil)
		checkAmplifyingDecisions(t, ev)
		// A dry run decides the same, and the engine still answers.
		x := c.must(200, "POST", "/api/v1/events", map[string]any{"key": "cel:x", "scope": "acme", "payload": megabytePayload(), "dry_run": true})
		for _, d := range x["workflows"].([]any) {
			m := d.(map[string]any)
			if m["workflow"] != "plain" && (m["reason"] != "expression_error" || !strings.Contains(m["message"].(string), "replace would allocate")) {
				t.Errorf("dry run decision %v", m)
			}
		}
		b.c.must(200, "GET", "/api/v1/workflows", nil)
	})
}

// TestDelayedEventWithAmplifyingExpressionIsDeliveredOnce: the report's delayed push.
// At delivery the expressions fail within their bounds, so the event is delivered once,
// with expression_error recorded, and the scheduled row is gone: there is nothing left to
// deliver again (it used to crash the engine at delivery, and again about a second after
// every restart, since the claimed row was delivered anew).
func TestDelayedEventWithAmplifyingExpressionIsDeliveredOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := nonAdmin(b.c)
		amplifyingWorkflows(c)
		res := c.must(201, "POST", "/api/v1/events", map[string]any{"key": "cel:x", "scope": "acme", "payload": megabytePayload(), "delay": "300ms"})
		id := res["event"].(map[string]any)["id"].(string)
		ev := c.waitDelivered(id)
		checkAmplifyingDecisions(t, ev)
		if runs, _ := ev["runs"].([]any); len(runs) != 1 {
			t.Errorf("delivered event has runs %v, want plain's only", runs)
		}
		if ids := eventIDs(c.must(200, "GET", "/api/v1/events?status=scheduled", nil)); len(ids) != 0 {
			t.Errorf("scheduled events after the delivery: %v", ids)
		}
		if ids := eventIDs(c.must(200, "GET", "/api/v1/events?status=delivered", nil)); len(ids) != 1 || ids[0] != id {
			t.Errorf("delivered events %v, want [%s]", ids, id)
		}
	})
}

// TestWebhookExpressionsCannotAmplifyMemory: a webhook whose event key, scope or delivery
// id expression amplifies answers a 1 MB delivery with 422 expression_failed naming the
// expression and the bound, records the delivery, stores no event, and the engine goes
// on (a 20 KB delivery used to reach 434 MB; 1 MB ended the process).
func TestWebhookExpressionsCannotAmplifyMemory(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		repl := `input.s.replace("a", input.s)`
		for _, w := range []map[string]any{
			{"name": "key", "event_key_expression": "'k:' + " + repl},
			{"name": "scope", "event_key_expression": "'k:scope'", "scope_expression": repl},
			{"name": "dedupe", "event_key_expression": "'k:dedupe'", "dedupe_expression": repl},
		} {
			w["source"] = "generic"
			w["auth"] = map[string]any{"type": "api_key", "header": "X-Api-Key", "key": "k_1"}
			u := hookURL(t, b, c.must(201, "POST", "/api/v1/webhooks", w))
			name := w["name"].(string)
			field := map[string]string{"key": "event_key_expression", "scope": "scope_expression", "dedupe": "dedupe_expression"}[name]
			body, err := json.Marshal(megabytePayload())
			if err != nil {
				t.Fatal(err)
			}
			r := deliver(t, u, http.Header{"X-Api-Key": {"k_1"}}, "application/json", body)
			if r.status != 422 {
				t.Fatalf("%s: status %d, want 422: %.300s", name, r.status, r.body)
			}
			if code, f := r.errCodeField(t); code != "expression_failed" || f != field {
				t.Errorf("%s: code %q field %q, want expression_failed %s", name, code, f, field)
			}
			if !bytes.Contains(r.body, []byte("replace would allocate 931.3 GiB")) {
				t.Errorf("%s: the reply does not name the bound: %.300s", name, r.body)
			}
			ds := deliveries(t, c, name)
			if len(ds) != 1 || ds[0]["status_code"] != float64(422) || ds[0]["outcome"] != "refused" ||
				!strings.Contains(ds[0]["error"].(string), field+": replace would allocate") {
				t.Errorf("%s: delivery records %v", name, ds)
			}
			// The engine still takes deliveries.
			ok := deliver(t, u, http.Header{"X-Api-Key": {"k_1"}}, "application/json", []byte(`{"s":"ab"}`))
			if ok.status != 200 {
				t.Errorf("%s: a small delivery after: %d %s", name, ok.status, ok.body)
			}
		}
		if ids := eventIDs(c.must(200, "GET", "/api/v1/events", nil)); len(ids) != 3 {
			t.Fatalf("events %v, want the three small deliveries' only", ids)
		}
	})
}
