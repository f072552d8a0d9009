package graphql_test

import (
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/graphql"
)

// TestBadInputStoresNothing: malformed GraphQL, unknown fields, wrong types, missing
// values, oversized documents, bodies and variables each get a GraphQL error with a code
// (and the field, where one is to blame), and store nothing.
func TestBadInputStoresNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(workflow("reorder-stock", "inventory:*"))
		vars := func(in map[string]any) string {
			return `{"query": "mutation($input: SendCustomEventInput!) { sendCustomEvent(input: $input) { success } }", "variables": {"input": ` +
				mustJSON(t, in) + `}}`
		}
		good := map[string]any{"type": "inventory", "operation": "low_stock_alert", "payload": map[string]any{"id": "sku-1"}}
		with := func(k string, v any) map[string]any {
			m := map[string]any{}
			for k2, v2 := range good {
				m[k2] = v2
			}
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
			return m
		}
		bigDoc := `{"query": "{ workflows { ` + strings.Repeat("name ", 20_001) + `} }"}`
		for _, tc := range []struct {
			name        string
			body        string
			contentType string
			status      int
			code, field string
		}{
			{"document does not parse", `{"query": "mutation { sendCustomEvent(input: {"}`, "", 200, "GRAPHQL_PARSE_FAILED", ""},
			{"unknown field selected", `{"query": "mutation { sendCustomEvent(input: {type: \"a\", operation: \"b\", payload: {id: 1}}) { success bogus } }"}`, "", 200, "GRAPHQL_VALIDATION_FAILED", ""},
			{"unknown input field in the document", `{"query": "mutation { sendCustomEvent(input: {type: \"a\", operation: \"b\", payload: {id: 1}, bogus: 1}) { success } }"}`, "", 200, "GRAPHQL_VALIDATION_FAILED", ""},
			{"wrong type in the document", `{"query": "mutation { sendCustomEvent(input: {type: 5, operation: \"b\", payload: {id: 1}}) { success } }"}`, "", 200, "GRAPHQL_VALIDATION_FAILED", ""},
			{"unknown input field in variables", vars(with("bogus", 1)), "", 200, "GRAPHQL_VALIDATION_FAILED", "$input.bogus"},
			{"wrong type in variables", vars(with("type", 5)), "", 200, "GRAPHQL_VALIDATION_FAILED", "$input.type"},
			{"missing payload", vars(with("payload", nil)), "", 200, "GRAPHQL_VALIDATION_FAILED", "$input.payload"},
			{"payload without id", vars(with("payload", map[string]any{"data": map[string]any{}})), "", 200, "GRAPHQL_VALIDATION_FAILED", "$input.payload.id"},
			{"string for an Int", `{"query": "query($n: Int) { events(limit: $n) { items { id } } }", "variables": {"n": "5"}}`, "", 200, "GRAPHQL_VALIDATION_FAILED", "$n"},
			{"missing variable", `{"query": "mutation($input: SendCustomEventInput!) { sendCustomEvent(input: $input) { success } }"}`, "", 200, "GRAPHQL_VALIDATION_FAILED", "$input"},
			{"unknown operation name", `{"query": "mutation A { sendCustomEvent(input: {type: \"a\", operation: \"b\", payload: {id: 1}}) { success } }", "operationName": "B"}`, "", 200, "GRAPHQL_VALIDATION_FAILED", ""},
			{"document over the token limit", bigDoc, "", 200, "GRAPHQL_PARSE_FAILED", ""},
			{"variables not an object", `{"query": "{ workflows { name } }", "variables": [1]}`, "", 400, "INVALID_ARGUMENT", "variables"},
			{"query not a string", `{"query": 5}`, "", 400, "INVALID_ARGUMENT", "query"},
			{"no query", `{"variables": {}}`, "", 400, "INVALID_ARGUMENT", "query"},
			{"body not JSON", `{"query": `, "", 400, "MALFORMED_JSON", ""},
			{"empty body", ``, "", 400, "MALFORMED_JSON", ""},
			{"two JSON values", `{"query": "{ workflows { name } }"} {}`, "", 400, "MALFORMED_JSON", ""},
			{"not JSON at all", `query { workflows { name } }`, "application/graphql", 415, "UNSUPPORTED_MEDIA_TYPE", ""},
			{"body over the limit", `{"query": "{ workflows { name } }", "variables": {"x": "` + strings.Repeat("x", 1<<20+64<<10) + `"}}`, "", 413, "PAYLOAD_TOO_LARGE", ""},
		} {
			ct := "application/json"
			if tc.contentType != "" {
				ct = tc.contentType
			}
			r := decodeGQL(t, c.do("POST", "/graphql", tc.body, "Content-Type", ct))
			if len(r.Errors) != 1 {
				t.Errorf("%s: %d %.300s, want one error", tc.name, r.status, r.raw)
				continue
			}
			e := r.Errors[0]
			if r.status != tc.status || e.code() != tc.code || e.field() != tc.field || r.hasData {
				t.Errorf("%s: %d %.300s, want %d %s field %q, no data", tc.name, r.status, r.raw, tc.status, tc.code, tc.field)
			}
		}
		if evs, runs := counts(t, c); evs != 0 || runs != 0 {
			t.Fatalf("bad input stored %d events, %d runs", evs, runs)
		}
	})
}

// TestHTTPConventions: GraphQL over HTTP as docs/graphql.md describes it: request errors
// are 200 as application/json and 400 as application/graphql-response+json; a GET runs a
// query but never a mutation; GET /graphql with Accept: text/html is the console, served
// from the binary; the schema is served as the repository has it.
func TestHTTPConventions(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(workflow("reorder-stock", "inventory:*"))
		const gr = "application/graphql-response+json"

		r := c.gql(`{ workflows { name } }`, nil, "Accept", gr)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), gr) || len(r.Errors) != 0 {
			t.Fatalf("query as %s: %d %s %s", gr, r.status, r.header.Get("Content-Type"), r.raw)
		}
		// A field error still has data: 200 in both media types.
		r = c.gql(`{ event(id: "01a2a7a0-0000-7000-8000-000000000000") { id } }`, nil, "Accept", gr)
		if r.status != 200 || !r.hasData || r.only(t).code() != "NOT_FOUND" {
			t.Fatalf("field error as %s: %d %s", gr, r.status, r.raw)
		}
		r = c.gql(`{ nope }`, nil, "Accept", "application/json")
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.only(t).code() != "GRAPHQL_VALIDATION_FAILED" {
			t.Fatalf("request error as JSON: %d %s", r.status, r.raw)
		}
		r = c.gql(`{ nope }`, nil)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("request error without Accept: %d %s", r.status, r.header)
		}

		// GET runs a query ...
		r = decodeGQL(t, c.do("GET", "/graphql?query="+url.QueryEscape(`query($n: Int) { events(limit: $n) { items { id } } }`)+
			"&variables="+url.QueryEscape(`{"n": 5}`), nil))
		if r.status != 200 || len(r.Errors) != 0 || r.Data == nil {
			t.Fatalf("GET query: %d %s", r.status, r.raw)
		}
		// ... but never a mutation.
		res := c.do("GET", "/graphql?query="+url.QueryEscape(`mutation { sendCustomEvent(input: {type: "inventory", operation: "x", payload: {id: 1}}) { success } }`), nil)
		r = decodeGQL(t, res)
		if r.status != 405 || r.header.Get("Allow") != "POST" || r.only(t).code() != "METHOD_NOT_ALLOWED" {
			t.Fatalf("GET mutation: %d %s", r.status, r.raw)
		}
		if evs, _ := counts(t, c); evs != 0 {
			t.Fatalf("a GET stored %d events", evs)
		}
		if r = decodeGQL(t, c.do("DELETE", "/graphql", nil)); r.status != 405 || r.only(t).code() != "METHOD_NOT_ALLOWED" {
			t.Fatalf("DELETE: %d %s", r.status, r.raw)
		}
		if r = decodeGQL(t, c.do("GET", "/graphql/nope", nil)); r.status != 404 || r.only(t).code() != "NOT_FOUND" {
			t.Fatalf("unknown path: %d %s", r.status, r.raw)
		}

		// The console: a page and its assets from the binary, nothing from elsewhere, no
		// token needed to load it (it asks for one).
		anon := c.with("")
		page := anon.do("GET", "/graphql", nil, "Accept", "text/html,application/xhtml+xml")
		if page.status != 200 || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") ||
			!strings.Contains(page.header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Fatalf("console: %d %v", page.status, page.header)
		}
		for _, asset := range []string{"/graphql/console/console.js", "/graphql/console/console.css"} {
			if !strings.Contains(string(page.body), asset) {
				t.Fatalf("console page does not load %s", asset)
			}
			a := anon.do("GET", asset, nil)
			if a.status != 200 || len(a.body) == 0 {
				t.Fatalf("%s: %d", asset, a.status)
			}
			if strings.Contains(string(a.body), "://") {
				t.Fatalf("%s loads something from elsewhere", asset)
			}
		}
		if strings.Contains(string(page.body), "://") {
			t.Fatal("the console page loads something from elsewhere")
		}

		// The schema as the repository has it.
		s := anon.do("GET", "/graphql/schema.graphql", nil)
		onDisk, err := os.ReadFile("schema.graphql")
		if err != nil {
			t.Fatal(err)
		}
		if s.status != 200 || string(s.body) != string(onDisk) || string(s.body) != graphql.Schema {
			t.Fatalf("schema: %d, %d bytes, want the %d of schema.graphql", s.status, len(s.body), len(onDisk))
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
