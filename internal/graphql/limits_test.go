package graphql_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestDepthAndCostLimits: a query nested too deep, or too wide or costly, is refused with
// a clear error before anything runs (a refused mutation stores nothing); one within the
// limits runs.
func TestDepthAndCostLimits(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(workflow("reorder-stock", "inventory:low_stock_alert"))
		send := `sendCustomEvent(input: {type: "inventory", operation: "low_stock_alert", payload: {id: "sku-1"}})`

		// deep nests pairs of event { runs } under the send: the document is 2*pairs+2 deep.
		deep := func(pairs int) string {
			sel := "id"
			for i := 0; i < pairs; i++ {
				sel = "event { runs { " + sel + " } }"
			}
			return "mutation { " + send + " { " + sel + " } }"
		}
		if d := c.ok(deep(2), nil); len(list(t, d, "sendCustomEvent", "event", "runs")) != 1 {
			t.Fatalf("depth 6: %v", d)
		}
		for _, tc := range []struct {
			name, query, code string
		}{
			{"depth 12", deep(5), "DEPTH_LIMIT_EXCEEDED"},
			{"depth 42", deep(20), "DEPTH_LIMIT_EXCEEDED"},
			{"1000 sends in one document", "mutation($input: SendCustomEventInput!) { " + aliases(1000, "sendCustomEvent(input: $input) { success }") + " }", "COST_LIMIT_EXCEEDED"},
			{"nested lists", `mutation { ` + send + ` { event { runs { steps { name } event { runs { steps { name } event { runs { steps { name } } } } } } } } }`, "COST_LIMIT_EXCEEDED"},
			{"large pages of nested lists", `{ events(limit: 500) { items { runs { steps { name } } } } }`, "COST_LIMIT_EXCEEDED"},
			{"fragments spread twice, 40 deep", fragmentBomb(40), "COST_LIMIT_EXCEEDED"},
		} {
			for _, accept := range []string{"application/json", "application/graphql-response+json"} {
				r := c.gql(tc.query, lowStock("sku-1", nil), "Accept", accept)
				e := r.only(t)
				want := 200
				if accept != "application/json" {
					want = 400
				}
				if r.status != want || e.code() != tc.code || r.hasData || !strings.Contains(e.Message, "limit is") {
					t.Errorf("%s (%s): %d %s, want %d %s without data", tc.name, accept, r.status, r.raw, want, tc.code)
				}
			}
		}
		// Only the send within the limits stored an event.
		if evs, runs := counts(t, c); evs != 1 || runs != 1 {
			t.Fatalf("%d events, %d runs; the refused documents must store nothing", evs, runs)
		}
		// Variables size the pages as literals do.
		r := c.gql(`query($n: Int) { events(limit: $n) { items { runs { steps { name } } } } }`, map[string]any{"n": 500})
		if e := r.only(t); e.code() != "COST_LIMIT_EXCEEDED" {
			t.Fatalf("limit from a variable: %s", r.raw)
		}
		c.ok(`query($n: Int) { events(limit: $n) { items { runs { steps { name } } } } }`, map[string]any{"n": 5})
	})
}

// aliases repeats a field n times under distinct aliases.
func aliases(n int, field string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "a%d: %s ", i, field)
	}
	return b.String()
}

// fragmentBomb is a document whose fragments each spread the next one twice: expanded,
// it selects 2^n fields.
func fragmentBomb(n int) string {
	var b strings.Builder
	b.WriteString("query { ...F0 }\n")
	for i := 0; i < n-1; i++ {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ... on Query { ...F%d } }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Query { workflows { name } }\n", n-1)
	return b.String()
}

// TestIntrospection: the standard introspection query of GraphQL tools runs within the
// limits, and the running schema has the seed's mutation, types and field names exactly.
func TestIntrospection(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		d := b.c.ok(introspectionQuery, nil)
		types := map[string]map[string]string{} // type -> field -> type ref
		for _, ty := range list(t, d, "__schema", "types") {
			m := ty.(map[string]any)
			fields := map[string]string{}
			for _, key := range []string{"fields", "inputFields"} {
				fs, _ := m[key].([]any)
				for _, f := range fs {
					fields[str(t, f, "name")] = typeRef(t, dig(t, f, "type"))
				}
			}
			types[str(t, m, "name")] = fields
		}
		want := map[string]map[string]string{
			"SendCustomEventInput":    {"type": "String!", "operation": "String!", "payload": "CustomEventPayloadInput!"},
			"CustomEventPayloadInput": {"id": "ID!", "data": "Map"},
			"SendCustomEventResponse": {"success": "Boolean!", "workflows": "[TemporalWorkflow!]!"},
			"TemporalWorkflow":        {"type": "String!", "id": "ID!", "runID": "ID!"},
			"Mutation":                {"sendCustomEvent": "SendCustomEventResponse!"},
		}
		for ty, fields := range want {
			for f, ref := range fields {
				if got := types[ty][f]; got != ref {
					t.Errorf("%s.%s is %q, want %q", ty, f, got, ref)
				}
			}
		}
		// Herald's extra input fields are optional: the seed's callers need not send them.
		for f, ref := range types["SendCustomEventInput"] {
			if want["SendCustomEventInput"][f] == "" && strings.HasSuffix(ref, "!") {
				t.Errorf("extra input field %s is required (%s)", f, ref)
			}
		}
		var args []any
		for _, f := range list(t, d, "__schema", "mutationType", "fields") {
			if str(t, f, "name") == "sendCustomEvent" {
				args = list(t, f, "args")
			}
		}
		if len(args) != 1 || str(t, args[0], "name") != "input" || typeRef(t, dig(t, args[0], "type")) != "SendCustomEventInput!" {
			t.Errorf("sendCustomEvent args %v", args)
		}
	})
}

func typeRef(t *testing.T, v any) string {
	t.Helper()
	m := v.(map[string]any)
	switch m["kind"] {
	case "NON_NULL":
		return typeRef(t, m["ofType"]) + "!"
	case "LIST":
		return "[" + typeRef(t, m["ofType"]) + "]"
	}
	return m["name"].(string)
}

// introspectionQuery is the introspection query of the usual GraphQL tools.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name fields { name args { name type { ...TypeRef } } } }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations isRepeatable args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}`
