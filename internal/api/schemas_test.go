package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// orderSchema requires a numeric amount and, when present, items with numeric prices.
var orderSchema = map[string]any{
	"type":     "object",
	"required": []string{"amount"},
	"properties": map[string]any{
		"amount":   map[string]any{"type": "number", "minimum": 0},
		"currency": map[string]any{"type": "string", "enum": []string{"EUR", "USD"}},
		"items": map[string]any{"type": "array", "items": map[string]any{
			"type": "object", "required": []string{"price"},
			"properties": map[string]any{"price": map[string]any{"type": "number"}},
		}},
	},
}

// counts returns how many events and runs the client's tenant has.
func counts(t *testing.T, c *client) (events, runs int) {
	t.Helper()
	return len(items(c.must(200, "GET", "/api/v1/events?limit=500", nil))), len(items(c.must(200, "GET", "/api/v1/runs?limit=500", nil)))
}

func TestEventSchemaCRUDAndValidation(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		// Invalid schemas are refused with the compiler's message, naming "schema"; nothing
		// is saved.
		for _, tc := range []struct {
			name, path string
			body       any
			field, msg string
		}{
			{"bad type keyword", "order:paid", map[string]any{"schema": map[string]any{"type": "nope"}}, "schema", "type"},
			{"bad minimum", "order:paid", map[string]any{"schema": map[string]any{"minimum": "zero"}}, "schema", "minimum"},
			{"not an object", "order:paid", map[string]any{"schema": []int{1}}, "schema", "JSON object"},
			{"missing", "order:paid", map[string]any{}, "schema", "required"},
			{"external ref", "order:paid", map[string]any{"schema": map[string]any{"$ref": "file:///etc/passwd"}}, "schema", "external references"},
			{"remote ref", "order:paid", map[string]any{"schema": map[string]any{"$ref": "https://example.com/s.json"}}, "schema", "external references"},
			{"pattern key", "order:*", map[string]any{"schema": orderSchema}, "key", "exact event key"},
			{"bad key", "order%20paid", map[string]any{"schema": orderSchema}, "key", "allowed are"},
			{"unknown field", "order:paid", map[string]any{"schema": orderSchema, "shcema": 1}, "shcema", "unknown field"},
			{"bare schema", "order:paid", map[string]any{"type": "object"}, "type", `the body is {\"schema\"`},
		} {
			r := c.do("PUT", "/api/v1/event-schemas/"+tc.path, tc.body)
			code, field := r.errCodeField(t)
			if r.status != 400 || field != tc.field || !strings.Contains(string(r.body), tc.msg) {
				t.Errorf("%s: %d %s %s, want 400 field %q mentioning %q", tc.name, r.status, code, r.body, tc.field, tc.msg)
			}
		}
		if n := len(items(c.must(200, "GET", "/api/v1/event-schemas", nil))); n != 0 {
			t.Fatalf("%d schemas saved by refused puts", n)
		}

		created := c.must(201, "PUT", "/api/v1/event-schemas/order:paid", map[string]any{"schema": orderSchema})
		if created["key"] != "order:paid" || created["schema"].(map[string]any)["type"] != "object" || created["created_at"] == nil {
			t.Fatalf("put reply = %v", created)
		}
		c.must(200, "PUT", "/api/v1/event-schemas/order:paid", map[string]any{"schema": orderSchema})
		c.must(201, "PUT", "/api/v1/event-schemas/a/b:c", map[string]any{"schema": map[string]any{"type": "object"}})
		got := c.must(200, "GET", "/api/v1/event-schemas/order:paid", nil)
		if got["key"] != "order:paid" || len(got["schema"].(map[string]any)["required"].([]any)) != 1 {
			t.Fatalf("get = %v", got)
		}
		if g := c.must(200, "GET", "/api/v1/event-schemas/a/b:c", nil); g["key"] != "a/b:c" {
			t.Fatalf("get of a key with a slash = %v", g)
		}
		// The form the OpenAPI document writes: the slash percent-encoded in one segment.
		if g := c.must(200, "GET", "/api/v1/event-schemas/a%2Fb:c", nil); g["key"] != "a/b:c" {
			t.Fatalf("get of a key with an encoded slash = %v", g)
		}
		list := items(c.must(200, "GET", "/api/v1/event-schemas", nil))
		if len(list) != 2 || list[0]["key"] != "a/b:c" || list[1]["key"] != "order:paid" {
			t.Fatalf("list = %v", list)
		}
		if r := c.do("GET", "/api/v1/event-schemas/nope", nil); r.status != 404 {
			t.Fatalf("get unknown: %d %s", r.status, r.body)
		}

		c.putWorkflow(simpleWorkflow("bill", "order:*", "charge"))
		ok := c.push("order:paid", map[string]any{"amount": 12.5, "currency": "EUR", "items": []any{map[string]any{"price": 1}}})
		if len(ok["runs"].([]any)) != 1 {
			t.Fatalf("a conforming push started %v", ok["runs"])
		}
		ev0, runs0 := counts(t, c)

		// Every violation is 422 schema_violation naming the failing value by JSON pointer,
		// and stores nothing.
		for _, tc := range []struct {
			name    string
			payload any
			field   string
		}{
			{"wrong type", map[string]any{"amount": "12"}, "payload/amount"},
			{"missing required", map[string]any{"currency": "EUR"}, "payload/amount"},
			{"empty payload", nil, "payload/amount"},
			{"below minimum", map[string]any{"amount": -1}, "payload/amount"},
			{"not in enum", map[string]any{"amount": 1, "currency": "GBP"}, "payload/currency"},
			{"nested array item", map[string]any{"amount": 1, "items": []any{map[string]any{"price": 1}, map[string]any{"price": "x"}}}, "payload/items/1/price"},
			{"nested missing", map[string]any{"amount": 1, "items": []any{map[string]any{}}}, "payload/items/0/price"},
		} {
			body := map[string]any{"key": "order:paid"}
			if tc.payload != nil {
				body["payload"] = tc.payload
			}
			r := c.do("POST", "/api/v1/events", body)
			code, field := r.errCodeField(t)
			if r.status != 422 || code != "schema_violation" || field != tc.field || !strings.Contains(string(r.body), "order:paid") {
				t.Errorf("%s: %d %s field %q: %s; want 422 schema_violation field %q", tc.name, r.status, code, field, r.body, tc.field)
			}
		}
		// A bulk push with one bad event is refused whole, naming it.
		r := c.do("POST", "/api/v1/events/bulk", map[string]any{"events": []any{
			map[string]any{"key": "order:paid", "payload": map[string]any{"amount": 1}},
			map[string]any{"key": "order:refunded", "payload": map[string]any{"amount": "no schema for this key"}},
			map[string]any{"key": "order:paid", "payload": map[string]any{"amount": true}},
		}})
		if code, field := r.errCodeField(t); r.status != 422 || code != "schema_violation" || field != "events[2].payload/amount" {
			t.Fatalf("bulk: %d %s", r.status, r.body)
		}
		if ev, runs := counts(t, c); ev != ev0 || runs != runs0 {
			t.Fatalf("refused pushes stored something: events %d→%d, runs %d→%d", ev0, ev, runs0, runs)
		}
		// Keys without a schema are not checked.
		c.push("order:refunded", map[string]any{"amount": "anything"})

		// Another tenant is not bound by this tenant's schema and does not see it.
		c.must(201, "POST", "/api/v1/tenants", map[string]any{"name": "acme"})
		other := c.with(c.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "acme", "tenant": "acme", "role": "admin"})["secret"].(string))
		other.push("order:paid", map[string]any{"amount": "12"})
		if n := len(items(other.must(200, "GET", "/api/v1/event-schemas", nil))); n != 0 {
			t.Fatalf("the other tenant lists %d schemas", n)
		}
		if r := other.do("GET", "/api/v1/event-schemas/order:paid", nil); r.status != 404 {
			t.Fatalf("the other tenant gets this tenant's schema: %d", r.status)
		}
		if r := other.do("DELETE", "/api/v1/event-schemas/order:paid", nil); r.status != 404 {
			t.Fatalf("the other tenant deletes this tenant's schema: %d", r.status)
		}

		// A replaced schema is enforced at once.
		c.must(200, "PUT", "/api/v1/event-schemas/order:paid", map[string]any{"schema": map[string]any{
			"type": "object", "required": []string{"total"}, "additionalProperties": false,
			"properties": map[string]any{"total": map[string]any{"type": "integer"}},
		}})
		c.push("order:paid", map[string]any{"total": 3})
		r = c.do("POST", "/api/v1/events", map[string]any{"key": "order:paid", "payload": map[string]any{"total": 3, "amount": 1}})
		if code, field := r.errCodeField(t); r.status != 422 || code != "schema_violation" || field != "payload/amount" {
			t.Fatalf("additional property under the new schema: %d %s", r.status, r.body)
		}

		// Deleted: payloads of the key are no longer checked.
		if r := c.do("DELETE", "/api/v1/event-schemas/order:paid", nil); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		c.push("order:paid", map[string]any{"total": "x"})
		if r := c.do("DELETE", "/api/v1/event-schemas/order:paid", nil); r.status != 404 {
			t.Fatalf("second delete: %d", r.status)
		}
	})
}

func TestEventSchemaPointerEscapingAndFormats(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.must(201, "PUT", "/api/v1/event-schemas/user:created", map[string]any{"schema": map[string]any{
			"type": "object",
			"properties": map[string]any{
				"a/b":   map[string]any{"type": "string"},
				"email": map[string]any{"type": "string", "format": "email"},
			},
		}})
		r := c.do("POST", "/api/v1/events", map[string]any{"key": "user:created", "payload": map[string]any{"a/b": 1}})
		if _, field := r.errCodeField(t); r.status != 422 || field != "payload/a~1b" {
			t.Fatalf("escaped pointer: %d %s", r.status, r.body)
		}
		r = c.do("POST", "/api/v1/events", map[string]any{"key": "user:created", "payload": map[string]any{"email": "not an address"}})
		if _, field := r.errCodeField(t); r.status != 422 || field != "payload/email" {
			t.Fatalf("format is asserted: %d %s", r.status, r.body)
		}
		c.push("user:created", map[string]any{"email": "ada@example.com", "a/b": "x"})
	})
}

func TestEventSchemaRefusesWebhookDelivery(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("bill", "partner:*", "charge"))
		c.must(201, "PUT", "/api/v1/event-schemas/partner:paid", map[string]any{"schema": orderSchema})
		w := c.must(201, "POST", "/api/v1/webhooks", map[string]any{"name": "partner", "source": "generic",
			"event_key_expression": "'partner:' + input.event",
			"auth":                 map[string]any{"type": "api_key", "header": "X-Api-Key", "key": "k_live_1"}})
		u := hookURL(t, b, w)
		h := http.Header{"X-Api-Key": {"k_live_1"}}

		r := deliver(t, u, h, "application/json", []byte(`{"event":"paid","amount":"12"}`))
		if code, field := r.errCodeField(t); r.status != 422 || code != "schema_violation" || field != "payload/amount" {
			t.Fatalf("violating delivery: %d %s", r.status, r.body)
		}
		if ev, runs := counts(t, c); ev != 0 || runs != 0 {
			t.Fatalf("a refused delivery stored %d events and %d runs", ev, runs)
		}
		ds := deliveries(t, c, "partner")
		if len(ds) != 1 || ds[0]["outcome"] != "refused" || ds[0]["status_code"] != float64(422) ||
			!strings.Contains(ds[0]["error"].(string), "payload/amount") || ds[0]["event_id"] != nil {
			t.Fatalf("delivery log = %v", ds)
		}

		r = deliver(t, u, h, "application/json", []byte(`{"event":"paid","amount":12}`))
		if r.status != 200 || len(r.json(t)["runs"].([]any)) != 1 {
			t.Fatalf("conforming delivery: %d %s", r.status, r.body)
		}
		if ds := deliveries(t, c, "partner"); len(ds) != 2 || ds[0]["outcome"] != "accepted" {
			t.Fatalf("delivery log after an accepted delivery = %v", ds)
		}
	})
}
