package graphql_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/graphql"
)

// TestSendPlanMatchesExecutor: a sendCustomEvent run by its plan answers byte for byte as
// gqlgen's executor answers it, and stores the same event, for every shape and input the
// plan takes (answers and errors alike); every other document or input is left to the
// executor. Two handlers share one engine, one with the plans and one without, and each
// request goes to both.
func TestSendPlanMatchesExecutor(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(workflow("reorder-stock", "inventory:low_stock_alert"))
		c.putWorkflow(workflow("notify-buyer", "inventory:*"))
		c.putWorkflow(workflow("audit", "checked:*"))
		c.must(201, "PUT", "/api/v1/event-schemas/checked:event", map[string]any{"schema": map[string]any{
			"type": "object", "properties": map[string]any{"data": map[string]any{
				"type": "object", "properties": map[string]any{"quantity": map[string]any{"type": "integer", "minimum": 0}},
			}},
		}})
		eng := b.env.Server.Engine()
		planned := graphql.New(eng, graphql.Config{})
		executed := graphql.New(eng, graphql.Config{})
		executed.SetPlans(false)

		seed := sendMutation
		full := `mutation Full($input: SendCustomEventInput!) { s: sendCustomEvent(input: $input) { __typename ok: success eventID duplicate deliverAt wf: workflows { __typename type id kind: type runID } } }`
		at := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		// obj is an input value, and input variables of it.
		obj := `{"type":"inventory","operation":"low_stock_alert","payload":{"id":"sku-1","data":{"quantity":3,"warehouse":"north","big":12345678901234567890}}}`
		input := func(fields string) string { return `{"input":` + strings.TrimSuffix(obj, "}") + fields + `}}` }
		type testCase struct {
			name, query, op, vars string
			plan                  bool
			sends                 int
		}
		cases := []testCase{
			// The plan runs these.
			{name: "seed", query: seed, vars: input("")},
			{name: "no workflow", query: seed, vars: `{"input":{"type":"nobody","operation":"listens","payload":{"id":"x"}}}`},
			{name: "every field", query: full, vars: input(`,"metadata":{"tier":"gold","n":2},"scope":"acme","idempotencyKey":null,"delay":null`)},
			{name: "data null", query: full, vars: `{"input":{"type":"inventory","operation":"low_stock_alert","payload":{"id":"sku-1","data":null},"metadata":null}}`},
			{name: "deliverAt", query: full, vars: input(`,"deliverAt":"` + at + `"`)},
			{name: "delay", query: full, vars: input(`,"delay":"1h"`)},
			{name: "idempotency", query: full, vars: input(`,"idempotencyKey":"KEY"`), sends: 2},
			{name: "unused variable", query: seed, vars: `{"other":1,"input":` + obj + `}`},
			{name: "named among two", query: seed + ` query Other { workflows { name } }`, op: "SendCustomEvent", vars: input("")},
			// The resolver or the engine refuses these: the same error either way.
			{name: "type with a space", query: full, vars: `{"input":{"type":"inv entory","operation":"x","payload":{"id":"1"}}}`},
			{name: "empty operation", query: full, vars: `{"input":{"type":"inventory","operation":"","payload":{"id":"1"}}}`},
			{name: "data with NUL", query: full, vars: `{"input":{"type":"inventory","operation":"x","payload":{"id":"1","data":{"a":"x\u0000y"}}}}`},
			{name: "metadata nested", query: full, vars: input(`,"metadata":{"a":{"b":1}}`)},
			{name: "bad delay", query: full, vars: input(`,"delay":"soon"`)},
			{name: "delay and deliverAt", query: full, vars: input(`,"delay":"1h","deliverAt":"` + at + `"`)},
			{name: "deliverAt too far", query: full, vars: input(`,"deliverAt":"2999-01-01T00:00:00Z"`)},
			{name: "payload too large", query: full, vars: `{"input":{"type":"inventory","operation":"x","payload":{"id":"1","data":{"blob":"` + strings.Repeat("x", 1<<20) + `"}}}}`},
			{name: "schema violation", query: full, vars: `{"input":{"type":"checked","operation":"event","payload":{"id":"1","data":{"quantity":-1}}}}`},
		}
		for i := range cases {
			cases[i].plan = true
		}
		cases = append(cases, []testCase{
			// The executor runs these: documents of another shape, inputs a plan does not take.
			{name: "event selected", query: `mutation($in: SendCustomEventInput!) { sendCustomEvent(input: $in) { success event { key payload } } }`, vars: `{"in":` + obj + `}`},
			{name: "fragment", query: `mutation($in: SendCustomEventInput!) { sendCustomEvent(input: $in) { ...F } } fragment F on SendCustomEventResponse { success }`, vars: `{"in":` + obj + `}`},
			{name: "directive", query: `mutation($in: SendCustomEventInput!, $yes: Boolean!) { sendCustomEvent(input: $in) { success @include(if: $yes) } }`, vars: `{"yes":true,"in":` + obj + `}`},
			{name: "repeated key", query: `mutation($in: SendCustomEventInput!) { sendCustomEvent(input: $in) { success success } }`, vars: `{"in":` + obj + `}`},
			{name: "literal input", query: `mutation { sendCustomEvent(input: {type: "inventory", operation: "low_stock_alert", payload: {id: "sku-1"}}) { success } }`, vars: `{}`},
			{name: "other operation", query: seed + ` query Other { workflows { name } }`, op: "Other", vars: `{}`},
			{name: "id a number", query: seed, vars: `{"input":{"type":"inventory","operation":"low_stock_alert","payload":{"id":42}}}`},
			{name: "type a number", query: seed, vars: `{"input":{"type":7,"operation":"low_stock_alert","payload":{"id":"1"}}}`},
			{name: "data a string", query: seed, vars: `{"input":{"type":"inventory","operation":"x","payload":{"id":"1","data":"three"}}}`},
			{name: "metadata a list", query: seed, vars: input(`,"metadata":[1]`)},
			{name: "deliverAt not a time", query: seed, vars: input(`,"deliverAt":"tomorrow"`)},
			{name: "unknown field", query: seed, vars: input(`,"priority":"high"`)},
			{name: "__typename in the input", query: seed, vars: input(`,"__typename":"SendCustomEventInput"`)},
			{name: "no payload", query: seed, vars: `{"input":{"type":"inventory","operation":"x"}}`},
			{name: "payload null", query: seed, vars: `{"input":{"type":"inventory","operation":"x","payload":null}}`},
			{name: "no input", query: seed, vars: `{}`},
			{name: "input null", query: seed, vars: `{"input":null}`},
			{name: "input a list", query: seed, vars: `{"input":[` + obj + `]}`},
		}...)
		for _, tc := range cases {
			if tc.sends == 0 {
				tc.sends = 1
			}
			for _, accept := range []string{"application/json", "application/graphql-response+json"} {
				// Both handlers parse and cache the document first: a document the cache
				// does not hold yet goes to the executor.
				for _, h := range []*graphql.Handler{planned, executed} {
					gqlPost(t, h, b.env.Token, accept, tc.query, tc.op, `{}`)
				}
				var answers, stored [2][]string
				for i, h := range []*graphql.Handler{planned, executed} {
					vars := strings.ReplaceAll(tc.vars, "KEY", accept+"-"+[]string{"planned", "executed"}[i])
					for range tc.sends {
						before := eventIDs(t, c)
						runs := h.PlanRuns()
						rec := gqlPost(t, h, b.env.Token, accept, tc.query, tc.op, vars)
						if ran := h.PlanRuns() - runs; h == planned && (ran == 1) != tc.plan {
							t.Errorf("%s: a plan ran %d times, want plan %v", tc.name, ran, tc.plan)
						}
						answers[i] = append(answers[i], rec.Result().Status+" "+rec.Header().Get("Content-Type")+" "+masked(rec.Body.String()))
						for _, id := range eventIDs(t, c) {
							if !slices.Contains(before, id) {
								ev := c.do("GET", "/api/v1/events/"+id, nil)
								stored[i] = append(stored[i], masked(strings.ReplaceAll(string(ev.body), "-executed", "-planned")))
							}
						}
					}
				}
				if !slices.Equal(answers[0], answers[1]) {
					t.Errorf("%s (%s): the plan answered\n%s\nthe executor\n%s", tc.name, accept, answers[0], answers[1])
				}
				if !slices.Equal(stored[0], stored[1]) {
					t.Errorf("%s (%s): the plan stored\n%s\nthe executor\n%s", tc.name, accept, stored[0], stored[1])
				}
			}
		}
	})
}

// gqlPost posts a GraphQL request to h.
func gqlPost(t *testing.T, h http.Handler, token, accept, query, op, vars string) *httptest.ResponseRecorder {
	t.Helper()
	q, _ := json.Marshal(query)
	o, _ := json.Marshal(op)
	req := httptest.NewRequest("POST", "/graphql", strings.NewReader(`{"query":`+string(q)+`,"operationName":`+string(o)+`,"variables":`+vars+`}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// eventIDs are the ids of the tenant's events, delivered and delayed.
func eventIDs(t *testing.T, c *client) []string {
	t.Helper()
	var ids []string
	for _, status := range []string{"delivered", "scheduled"} {
		for _, ev := range c.must(200, "GET", "/api/v1/events?limit=500&status="+status, nil)["items"].([]any) {
			ids = append(ids, ev.(map[string]any)["id"].(string))
		}
	}
	return ids
}

var (
	uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timeRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
)

// masked is an answer without what differs from one send to the next: ids and times.
func masked(s string) string {
	return timeRE.ReplaceAllString(uuidRE.ReplaceAllString(s, "<id>"), "<time>")
}
