package graphql_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// sendMutation is the seed's mutation as its callers send it.
const sendMutation = `mutation SendCustomEvent($input: SendCustomEventInput!) {
  sendCustomEvent(input: $input) {
    success
    workflows { type id runID }
  }
}`

// sendFull also asks for Herald's extra fields.
const sendFull = `mutation Send($input: SendCustomEventInput!) {
  sendCustomEvent(input: $input) {
    success eventID duplicate deliverAt
    workflows { type id runID }
    event { id key status payload metadata triggers { workflow started skipped } }
  }
}`

func lowStock(id string, data any) map[string]any {
	payload := map[string]any{"id": id}
	if data != nil {
		payload["data"] = data
	}
	return map[string]any{"input": map[string]any{"type": "inventory", "operation": "low_stock_alert", "payload": payload}}
}

// TestSendCustomEventStartsWorkflows sends the seed's mutation: the event is
// inventory:low_stock_alert with payload {"id", "data"}, every listening workflow starts,
// and the reply lists each run, committed before it (GET /api/v1/runs/{runID} finds it).
func TestSendCustomEventStartsWorkflows(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(workflow("reorder-stock", "inventory:low_stock_alert"))
		c.putWorkflow(workflow("notify-buyer", "inventory:*"))
		c.putWorkflow(workflow("ship-order", "order:*"))
		c.putWorkflow(workflow("audit-stock", "inventory:low_stock_alert"))
		c.must(200, "POST", "/api/v1/workflows/audit-stock/disable", nil)

		data := c.ok(sendMutation, lowStock("sku-123", map[string]any{"quantity": 3, "threshold": 10, "warehouse": "north"}))
		res := obj(t, data, "sendCustomEvent")
		if dig(t, res, "success") != true {
			t.Fatalf("success: %v", res)
		}
		wfs := list(t, res, "workflows")
		if len(wfs) != 2 {
			t.Fatalf("workflows: %v, want reorder-stock and notify-buyer", wfs)
		}
		var types []string
		var eventID string
		for _, w := range wfs {
			typ, id, runID := str(t, w, "type"), str(t, w, "id"), str(t, w, "runID")
			types = append(types, typ)
			wfName, evID, ok := strings.Cut(id, "/")
			if !ok || wfName != typ || evID == "" {
				t.Fatalf("id %q is not <workflow>/<event id>", id)
			}
			if eventID != "" && evID != eventID {
				t.Fatalf("two event ids: %s, %s", eventID, evID)
			}
			eventID = evID
			run := c.must(200, "GET", "/api/v1/runs/"+runID, nil)
			if run["workflow"] != typ || run["event_id"] != eventID {
				t.Fatalf("run %s: %v", runID, run)
			}
			if !jsonEq(t, run["input"], `{"id":"sku-123","data":{"quantity":3,"threshold":10,"warehouse":"north"}}`) {
				t.Fatalf("run input %v", run["input"])
			}
		}
		slices.Sort(types)
		if !slices.Equal(types, []string{"notify-buyer", "reorder-stock"}) {
			t.Fatalf("types %v", types)
		}
		ev := c.must(200, "GET", "/api/v1/events/"+eventID, nil)
		if ev["key"] != "inventory:low_stock_alert" || ev["source"] != "api" || len(ev["runs"].([]any)) != 2 {
			t.Fatalf("event %v", ev)
		}

		// data may be left out: the payload's data is then {}; the extra fields tell the
		// event and what it did to every workflow.
		full := obj(t, c.ok(sendFull, lowStock("sku-9", nil)), "sendCustomEvent")
		if p := dig(t, full, "event", "payload"); !jsonEq(t, p, `{"id":"sku-9","data":{}}`) {
			t.Fatalf("payload %v", p)
		}
		if full["duplicate"] != false || full["deliverAt"] != nil || str(t, full, "eventID") != str(t, full, "event", "id") ||
			str(t, full, "event", "status") != "delivered" {
			t.Fatalf("reply %v", full)
		}
		decisions := map[string]any{}
		for _, d := range list(t, full, "event", "triggers") {
			decisions[str(t, d, "workflow")] = dig(t, d, "skipped")
		}
		if len(decisions) != 3 || decisions["reorder-stock"] != nil || decisions["notify-buyer"] != nil || decisions["audit-stock"] != "disabled" {
			t.Fatalf("trigger decisions %v", decisions)
		}

		// An ID given as a number is an ID all the same: a string in the payload.
		r := c.ok(`mutation { sendCustomEvent(input: {type: "inventory", operation: "item_expired", payload: {id: 42, data: {lot: "A"}}}) { event { payload } } }`, nil)
		if p := dig(t, r, "sendCustomEvent", "event", "payload"); !jsonEq(t, p, `{"id":"42","data":{"lot":"A"}}`) {
			t.Fatalf("payload %v", p)
		}
	})
}

// TestSendCustomEventOptionalFields: metadata and scope are stored as a REST push stores
// them, and a delay stores a delayed event that has started nothing yet.
func TestSendCustomEventOptionalFields(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(workflow("reorder-stock", "inventory:low_stock_alert"))
		vars := lowStock("sku-1", map[string]any{"quantity": 1})
		in := vars["input"].(map[string]any)
		in["metadata"] = map[string]any{"tenant": "acme", "priority": 2}
		in["scope"] = "acme"
		res := obj(t, c.ok(sendFull, vars), "sendCustomEvent")
		ev := c.must(200, "GET", "/api/v1/events/"+str(t, res, "eventID"), nil)
		if !jsonEq(t, ev["additional_metadata"], `{"tenant":"acme","priority":2}`) || ev["scope"] != "acme" {
			t.Fatalf("event %v", ev)
		}

		in["delay"] = "1h"
		delete(in, "scope")
		before := time.Now()
		res = obj(t, c.ok(sendFull, vars), "sendCustomEvent")
		at, err := time.Parse(time.RFC3339Nano, str(t, res, "deliverAt"))
		if err != nil || at.Before(before.Add(59*time.Minute)) || at.After(time.Now().Add(61*time.Minute)) {
			t.Fatalf("deliverAt %v (%v)", res["deliverAt"], err)
		}
		if len(list(t, res, "workflows")) != 0 || str(t, res, "event", "status") != "scheduled" {
			t.Fatalf("delayed reply %v", res)
		}
		q := c.ok(`query($id: ID!) { event(id: $id) { status deliverAt runs { id } } }`, map[string]any{"id": res["eventID"]})
		if str(t, q, "event", "status") != "scheduled" || len(list(t, q, "event", "runs")) != 0 {
			t.Fatalf("delayed event %v", q)
		}

		delete(in, "delay")
		in["deliverAt"] = time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
		res = obj(t, c.ok(sendFull, vars), "sendCustomEvent")
		if str(t, res, "event", "status") != "scheduled" {
			t.Fatalf("deliverAt reply %v", res)
		}
	})
}

// TestSendCustomEventIdempotency: a repeated idempotency key answers with the original
// event and its workflows, marked duplicate, and stores and starts nothing; a REST push
// with the same key is a repeat too (one ingest path).
func TestSendCustomEventIdempotency(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(workflow("reorder-stock", "inventory:low_stock_alert"))
		vars := lowStock("sku-1", map[string]any{"quantity": 1})
		vars["input"].(map[string]any)["idempotencyKey"] = "sku-1-2026-11-24"
		first := obj(t, c.ok(sendFull, vars), "sendCustomEvent")
		// Even with another payload, the repeat is the original.
		vars["input"].(map[string]any)["payload"] = map[string]any{"id": "other"}
		second := obj(t, c.ok(sendFull, vars), "sendCustomEvent")
		if first["duplicate"] != false || second["duplicate"] != true || first["eventID"] != second["eventID"] {
			t.Fatalf("first %v, second %v", first, second)
		}
		w1, _ := json.Marshal(first["workflows"])
		w2, _ := json.Marshal(second["workflows"])
		if string(w1) != string(w2) || len(list(t, first, "workflows")) != 1 {
			t.Fatalf("workflows %s vs %s", w1, w2)
		}
		rest := c.must(200, "POST", "/api/v1/events", map[string]any{"key": "inventory:low_stock_alert", "idempotency_key": "sku-1-2026-11-24"})
		if rest["duplicate"] != true || dig(t, rest, "event", "id") != first["eventID"] {
			t.Fatalf("REST repeat %v", rest)
		}
		if evs, runs := counts(t, c); evs != 1 || runs != 1 {
			t.Fatalf("%d events, %d runs; want 1, 1", evs, runs)
		}
	})
}

// TestSendCustomEventErrors: each kind of bad input is a GraphQL error with the REST code
// in capitals and the input field to blame, and stores nothing.
func TestSendCustomEventErrors(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(workflow("reorder-stock", "inventory:*"))
		set := func(k string, v any) map[string]any {
			vars := lowStock("sku-1", map[string]any{"quantity": 1})
			in := vars["input"].(map[string]any)
			if p, ok := strings.CutPrefix(k, "payload."); ok {
				in["payload"].(map[string]any)[p] = v
			} else {
				in[k] = v
			}
			return vars
		}
		for _, tc := range []struct {
			name        string
			vars        map[string]any
			code, field string
		}{
			{"type with a space", set("type", "inv entory"), "INVALID_ARGUMENT", "input.type"},
			{"empty type", set("type", ""), "INVALID_ARGUMENT", "input.type"},
			{"type with a colon", set("type", "inventory:x"), "INVALID_ARGUMENT", "input.type"},
			{"empty operation", set("operation", ""), "INVALID_ARGUMENT", "input.operation"},
			{"operation with a space", set("operation", "low stock"), "INVALID_ARGUMENT", "input.operation"},
			{"key too long", set("operation", strings.Repeat("x", 250)), "INVALID_ARGUMENT", "input.operation"},
			{"data a string", set("payload.data", "three"), "INVALID_ARGUMENT", "input.payload.data"},
			{"data a list", set("payload.data", []any{1, 2}), "INVALID_ARGUMENT", "input.payload.data"},
			{"data with NUL", set("payload.data", map[string]any{"a": "x\u0000y"}), "INVALID_ARGUMENT", "input.payload"},
			{"metadata nested", set("metadata", map[string]any{"a": map[string]any{"b": 1}}), "INVALID_ARGUMENT", "input.metadata.a"},
			{"metadata a string", set("metadata", "x"), "INVALID_ARGUMENT", "input.metadata"},
			{"idempotency key too long", set("idempotencyKey", strings.Repeat("k", 256)), "INVALID_ARGUMENT", "input.idempotencyKey"},
			{"idempotency key with a newline", set("idempotencyKey", "a\nb"), "INVALID_ARGUMENT", "input.idempotencyKey"},
			{"scope with a control character", set("scope", "a\tb"), "INVALID_ARGUMENT", "input.scope"},
			{"bad delay", set("delay", "soon"), "INVALID_ARGUMENT", "input.delay"},
			{"delay too long", set("delay", "9000h"), "INVALID_ARGUMENT", "input.delay"},
			{"deliverAt not a time", set("deliverAt", "tomorrow"), "INVALID_ARGUMENT", "input.deliverAt"},
			{"deliverAt too far", set("deliverAt", time.Now().AddDate(2, 0, 0).UTC().Format(time.RFC3339)), "INVALID_ARGUMENT", "input.deliverAt"},
			{"payload too large", set("payload.data", map[string]any{"blob": strings.Repeat("x", 1<<20)}), "PAYLOAD_TOO_LARGE", "input.payload"},
		} {
			r := c.gql(sendFull, tc.vars)
			e := r.only(t)
			if r.status != 200 || e.code() != tc.code || e.field() != tc.field || !strings.HasPrefix(e.Message, tc.field) && tc.code == "INVALID_ARGUMENT" {
				t.Errorf("%s: %d %s, want %s on %s", tc.name, r.status, r.raw, tc.code, tc.field)
			}
			if !r.hasData || r.Data != nil {
				t.Errorf("%s: data should be null (the mutation ran and failed): %s", tc.name, r.raw)
			}
		}
		// Both delay and deliverAt.
		vars := set("delay", "1h")
		vars["input"].(map[string]any)["deliverAt"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if e := c.gql(sendFull, vars).only(t); e.code() != "INVALID_ARGUMENT" || e.field() != "input.delay" {
			t.Errorf("delay and deliverAt: %v", e)
		}
		if evs, runs := counts(t, c); evs != 0 || runs != 0 {
			t.Fatalf("refused sends stored %d events, %d runs", evs, runs)
		}
	})
}

// TestSendCustomEventSchemaViolation: a payload the key's JSON Schema refuses is
// SCHEMA_VIOLATION with the JSON pointer of the failing value, and stores nothing.
func TestSendCustomEventSchemaViolation(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(workflow("reorder-stock", "inventory:low_stock_alert"))
		c.must(201, "PUT", "/api/v1/event-schemas/inventory:low_stock_alert", map[string]any{"schema": map[string]any{
			"type": "object", "required": []string{"id", "data"},
			"properties": map[string]any{"data": map[string]any{
				"type": "object", "required": []string{"quantity"},
				"properties": map[string]any{"quantity": map[string]any{"type": "integer", "minimum": 0}},
			}},
		}})
		for _, tc := range []struct {
			data    any
			pointer string
		}{
			{map[string]any{"quantity": -1}, "/data/quantity"},
			{map[string]any{"quantity": "three"}, "/data/quantity"},
			{map[string]any{"warehouse": "north"}, "/data/quantity"},
		} {
			r := c.gql(sendFull, lowStock("sku-1", tc.data))
			e := r.only(t)
			if e.code() != "SCHEMA_VIOLATION" || e.field() != "input.payload" || e.Extensions["pointer"] != tc.pointer {
				t.Errorf("%v: %s, want SCHEMA_VIOLATION at %s", tc.data, r.raw, tc.pointer)
			}
		}
		if evs, runs := counts(t, c); evs != 0 || runs != 0 {
			t.Fatalf("refused sends stored %d events, %d runs", evs, runs)
		}
		c.ok(sendFull, lowStock("sku-1", map[string]any{"quantity": 2}))
		if evs, runs := counts(t, c); evs != 1 || runs != 1 {
			t.Fatalf("%d events, %d runs after a conforming send", evs, runs)
		}
	})
}

// TestUnauthenticated: no token, or an unknown or revoked one, is UNAUTHENTICATED (HTTP
// 401, before anything runs).
func TestUnauthenticated(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		tok := c.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "ci"})
		secret := tok["secret"].(string)
		c.must(204, "DELETE", "/api/v1/tokens/"+dig(t, tok, "token", "id").(string), nil)
		for name, token := range map[string]string{"none": "", "unknown": "hrld_nope", "revoked": secret} {
			r := c.with(token).gql(sendMutation, lowStock("sku-1", nil))
			e := r.only(t)
			if r.status != 401 || e.code() != "UNAUTHENTICATED" || r.hasData || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s token: %d %s", name, r.status, r.raw)
			}
		}
		if evs, _ := counts(t, c); evs != 0 {
			t.Fatalf("%d events stored without a token", evs)
		}
	})
}

// TestTenantConfinement: a token sees and triggers only its tenant's rows; another
// tenant's event or run id is NOT_FOUND, as in REST.
func TestTenantConfinement(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "acme"})
		acme := c.with(c.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "acme", "tenant": "acme"})["secret"].(string))
		c.putWorkflow(workflow("reorder-stock", "inventory:low_stock_alert"))

		res := obj(t, c.ok(sendFull, lowStock("sku-1", nil)), "sendCustomEvent")
		eventID, runID := str(t, res, "eventID"), str(t, res, "workflows", 0, "runID")

		for _, q := range []string{
			fmt.Sprintf(`{ event(id: %q) { id } }`, eventID),
			fmt.Sprintf(`{ run(id: %q) { id } }`, runID),
			`{ workflow(name: "reorder-stock") { name } }`,
		} {
			r := acme.gql(q, nil)
			e := r.only(t)
			if r.status != 200 || e.code() != "NOT_FOUND" {
				t.Errorf("%s as acme: %s", q, r.raw)
			}
			for _, v := range r.Data {
				if v != nil {
					t.Errorf("%s as acme: data %v", q, r.Data)
				}
			}
		}
		d := acme.ok(`{ events { items { id } } runs { items { id } } workflows { name } }`, nil)
		if len(list(t, d, "events", "items"))+len(list(t, d, "runs", "items"))+len(list(t, d, "workflows")) != 0 {
			t.Fatalf("acme sees %v", d)
		}
		// acme's event starts nothing of the default tenant's.
		ar := obj(t, acme.ok(sendFull, lowStock("sku-1", nil)), "sendCustomEvent")
		if len(list(t, ar, "workflows")) != 0 || len(list(t, ar, "event", "triggers")) != 0 {
			t.Fatalf("acme's send %v", ar)
		}
		if evs, runs := counts(t, c); evs != 1 || runs != 1 {
			t.Fatalf("default tenant: %d events, %d runs", evs, runs)
		}
		// The owner finds both.
		if str(t, c.ok(fmt.Sprintf(`{ event(id: %q) { id } }`, eventID), nil), "event", "id") != eventID {
			t.Fatal("owner cannot read its event")
		}
	})
}
