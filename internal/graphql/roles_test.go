package graphql_test

import (
	"fmt"
	"slices"
	"sort"
	"testing"
)

// TestEveryOperationIsOpenToMemberTokens: every field of Query and Mutation answers a
// member token (the least role) without PERMISSION_DENIED, as its REST counterpart does,
// so that code cannot occur today (docs/graphql.md, Errors). The schema's root fields are
// read by introspection: a field added without a case here fails the test.
func TestEveryOperationIsOpenToMemberTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(workflow("reorder-stock", "inventory:low_stock_alert"))
		member := b.c.with(b.c.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "m"})["secret"].(string))

		res := obj(t, member.ok(sendFull, lowStock("sku-1", nil)), "sendCustomEvent")
		eventID, runID := str(t, res, "eventID"), str(t, res, "workflows", 0, "runID")
		type op struct {
			query string
			vars  map[string]any
		}
		covered := map[string]op{
			"sendCustomEvent":    {}, // sent above
			"event":              {query: fmt.Sprintf(`{ event(id: %q) { id } }`, eventID)},
			"events":             {query: `{ events { items { id } } }`},
			"run":                {query: fmt.Sprintf(`{ run(id: %q) { id } }`, runID)},
			"runs":               {query: `{ runs { items { id } } }`},
			"workflows":          {query: `{ workflows { name } }`},
			"workflow":           {query: `{ workflow(name: "reorder-stock") { name } }`},
			"explainCustomEvent": {query: `query Explain($input: SendCustomEventInput!) { explainCustomEvent(input: $input) { key } }`, vars: lowStock("sku-2", nil)},
		}
		for _, o := range covered {
			if o.query != "" {
				member.ok(o.query, o.vars) // fails the test on any error
			}
		}

		d := member.ok(`{ __schema { queryType { fields { name } } mutationType { fields { name } } } }`, nil)
		var fields []string
		for _, root := range []string{"queryType", "mutationType"} {
			for _, f := range list(t, d, "__schema", root, "fields") {
				fields = append(fields, f.(map[string]any)["name"].(string))
			}
		}
		sort.Strings(fields)
		var want []string
		for name := range covered {
			want = append(want, name)
		}
		sort.Strings(want)
		if !slices.Equal(fields, want) {
			t.Fatalf("root fields %v, covered %v: add the new field's case (and its role, if it needs one, to docs/graphql.md)", fields, want)
		}
	})
}
