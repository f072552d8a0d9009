package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testenv"
)

// TestTextThatIsNotUTF8IsRefusedAlike: text that reaches the store without passing through
// a JSON decoder (which would make it UTF-8) may hold any byte: a header value (the
// Idempotency-Key, or one a webhook's scope or delivery-id expression reads) or a
// percent-escape of a form body. PostgreSQL's text refuses what is not UTF-8 (SQLSTATE
// 22021, which answered 500) while SQLite stored it; now both refuse it, naming the
// field, and store no event. Found by FuzzPushEvent and FuzzWebhookDelivery.
func TestTextThatIsNotUTF8IsRefusedAlike(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		w := c.must(201, "POST", "/api/v1/webhooks", `{"name":"hook","source":"generic","auth":{"type":"api_key","header":"X-Api-Key","key":"k_live_1"},
			"event_key_expression":"'hook:' + (has(input.type) ? string(input.type) : 'none')",
			"scope_expression":"has(input.customer) ? string(input.customer) : ('x-customer' in headers ? headers['x-customer'] : '')",
			"dedupe_expression":"'x-delivery' in headers ? headers['x-delivery'] : ''"}`)
		hook := "/api/v1/tenants/" + tenantOf(t, w["url"].(string)) + "/webhooks/hook"
		const form = "application/x-www-form-urlencoded"
		key := http.Header{"X-Api-Key": {"k_live_1"}}
		with := func(name, value string) http.Header {
			h := key.Clone()
			h.Set(name, value)
			return h
		}
		for _, tc := range []struct {
			name, path, contentType string
			header                  http.Header
			body                    string
			status                  int
			code, field             string
		}{
			{"Idempotency-Key header", "/api/v1/events", "application/json", http.Header{"Idempotency-Key": {"k\x8a"}}, `{"key":"k"}`, 400, "invalid_argument", "idempotency_key"},
			{"Idempotency-Key header, dry run", "/api/v1/events", "application/json", http.Header{"Idempotency-Key": {"\xff"}}, `{"key":"k","dry_run":true}`, 400, "invalid_argument", "idempotency_key"},
			{"form value read as the scope", hook, form, key, "type=paid&customer=%ff", 400, "malformed_body", ""},
			{"form value, not read", hook, form, key, "type=paid&note=caf%e9", 400, "malformed_body", ""},
			{"form field name", hook, form, key, "%ff=1", 400, "malformed_body", ""},
			{"header read as the scope", hook, "application/json", with("X-Customer", "caf\xe9"), `{"type":"paid"}`, 422, "expression_failed", "scope_expression"},
			{"header read as the delivery id", hook, "application/json", with("X-Delivery", "\xfe\xff"), `{"type":"paid"}`, 422, "expression_failed", "dedupe_expression"},
		} {
			r := rawPost(t, b, tc.path, tc.contentType, tc.header, tc.body)
			if r.status != tc.status {
				t.Errorf("%s: status %d, want %d: %s", tc.name, r.status, tc.status, r.body)
				continue
			}
			if code, field := r.errCodeField(t); code != tc.code || field != tc.field {
				t.Errorf("%s: %s on %q, want %s on %q: %s", tc.name, code, field, tc.code, tc.field, r.body)
			}
		}
		if n := len(items(c.must(200, "GET", "/api/v1/events", nil))); n != 0 {
			t.Fatalf("%d events stored by refused requests", n)
		}
		// The same text in UTF-8 is accepted, as a scope and as a delivery id.
		r := rawPost(t, b, hook, form, with("X-Delivery", "d\u00e9"), "type=paid&customer=caf%C3%A9")
		if r.status != 200 {
			t.Fatalf("UTF-8 form: %d %s", r.status, r.body)
		}
		if ev := r.json(t)["event"].(map[string]any); ev["scope"] != "caf\u00e9" || ev["dedupe_id"] != "d\u00e9" {
			t.Fatalf("UTF-8 form: %v", ev)
		}
	})
}

// TestErrorsNameTheSameFieldEveryTime: input with several bad parts is refused for the same
// one every time, whatever order Go's maps iterate in: CloudEvents attributes (structured
// and binary), metadata values and metadata filters are checked in name order. Found by
// FuzzCloudEventStructured, whose two stores blamed different attributes of one event.
func TestErrorsNameTheSameFieldEveryTime(t *testing.T) {
	t.Parallel()
	b := start(t, testenv.Options{})
	ce := http.Header{"Ce-Specversion": {"1.0"}, "Ce-Type": {"k"}, "Ce-Source": {"/s"}, "Ce-Id": {"1"},
		"Ce-Zz_bad": {"x"}, "Ce-Aa_bad": {"x"}, "Ce-Mm_bad": {"x"}}
	for _, tc := range []struct {
		name, method, path, contentType string
		header                          http.Header
		body, field                     string
	}{
		{"structured attributes", "POST", "/api/v1/events", "application/cloudevents+json", nil,
			`{"specversion":"1.0","type":"k","source":"/s","id":"1","z":{"a":1},"y":[1],"x":{},"Bad":"1"}`, "Bad"},
		{"binary attributes", "POST", "/api/v1/events", "application/json", ce, `{}`, "aa_bad"},
		{"metadata", "POST", "/api/v1/events", "application/json", nil,
			`{"key":"k","additional_metadata":{"z":{},"y":[],"x":null,"b":{}}}`, "additional_metadata.b"},
		{"metadata filters", "GET", "/api/v1/events?metadata[z]=1&metadata[y]=1&metadata[]=1&metadata[b=1", "", nil, "", "metadata[]"},
	} {
		for i := 0; i < 20; i++ {
			var r resp
			if tc.method == "GET" {
				r = b.c.do("GET", tc.path, nil)
			} else {
				r = rawPost(t, b, tc.path, tc.contentType, tc.header, tc.body)
			}
			if _, field := r.errCodeField(t); r.status != 400 || field != tc.field {
				t.Fatalf("%s, try %d: %d naming %q, want 400 naming %q: %s", tc.name, i, r.status, field, tc.field, r.body)
			}
		}
	}
}

// TestPathsAndQueriesNotUTF8AreRefusedAlike: a path or query whose percent-escapes decode to
// bytes that are not UTF-8 (%FF) reached the store as a name or a filter: PostgreSQL refused
// it (SQLSTATE 22021) with a 500 at most endpoints, where SQLite found nothing. Everything
// stored is UTF-8, so such a path names nothing (404) and such a query parameter is refused
// (400 naming it), on both stores. Found by FuzzDashboardPages and FuzzDashboardForms.
func TestPathsAndQueriesNotUTF8AreRefusedAlike(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("w", "k", "s"))
		for _, tc := range []struct {
			method, path string
			status       int
			field        string
		}{
			{"GET", "/api/v1/workflows/%FF", 404, ""},
			{"POST", "/api/v1/workflows/%FF/enable", 404, ""},
			{"POST", "/api/v1/workflows/%FF/runs", 404, ""},
			{"GET", "/api/v1/workflows/%FF/filters", 404, ""},
			{"DELETE", "/api/v1/workflows/w/filters/%FF", 404, ""},
			{"GET", "/api/v1/webhooks/%FF", 404, ""},
			{"GET", "/api/v1/webhooks/%FF/deliveries", 404, ""},
			{"DELETE", "/api/v1/webhooks/%FF", 404, ""},
			{"GET", "/api/v1/events/%FF", 404, ""},
			{"POST", "/api/v1/events/%FF/cancel", 404, ""},
			{"DELETE", "/api/v1/tokens/%FF", 404, ""},
			{"GET", "/api/v1/event-schemas/%FF", 404, ""},
			{"POST", "/api/v1/tenants/%FF/webhooks/%FF", 404, ""},
			{"GET", "/api/v1/tokens?tenant=%FF", 400, "tenant"},
			{"GET", "/api/v1/runs?workflow=w&event_id=caf%E9", 400, "event_id"},
		} {
			r := c.do(tc.method, tc.path, nil)
			if r.status != tc.status {
				t.Errorf("%s %s: status %d, want %d: %s", tc.method, tc.path, r.status, tc.status, r.body)
				continue
			}
			if _, field := r.errCodeField(t); field != tc.field {
				t.Errorf("%s %s: field %q, want %q", tc.method, tc.path, field, tc.field)
			}
		}
	})
}

// TestStoredTextIsCheckedAlike: text kept as it is — a webhook's expressions, a generic
// webhook's username and signature prefix, a filter's expression — could hold U+0000,
// which PostgreSQL's text cannot (500, where SQLite stored it); now 400 naming the field on
// both stores, nothing stored. A heartbeat's lease id that is not an id (one with U+0000
// answered 500 on PostgreSQL) is reported lost, and a heartbeat lists at most 1000
// step-runs (each is a write in its transaction).
func TestStoredTextIsCheckedAlike(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("w", "k", "s"))
		for _, tc := range []struct{ name, path, body, field string }{
			{"event key expression", "/api/v1/webhooks", `{"name":"h","source":"github","secret":"s","event_key_expression":"'a\u0000'"}`, "event_key_expression"},
			{"scope expression", "/api/v1/webhooks", `{"name":"h","source":"github","secret":"s","event_key_expression":"'a'","scope_expression":"'\u0000'"}`, "scope_expression"},
			{"username", "/api/v1/webhooks", `{"name":"h","source":"generic","auth":{"type":"basic","username":"a\u0000","password":"p"},"event_key_expression":"'a'"}`, "auth.username"},
			{"prefix", "/api/v1/webhooks", `{"name":"h","source":"generic","auth":{"type":"hmac","header":"X-S","secret":"s","prefix":"a\u0000"},"event_key_expression":"'a'"}`, "auth.prefix"},
			{"filter expression", "/api/v1/workflows/w/filters", `{"scope":"s","expression":"input.a == '\u0000'"}`, "expression"},
		} {
			r := rawPost(t, b, tc.path, "application/json", nil, tc.body)
			if code, field := r.errCodeField(t); r.status != 400 || code != "invalid_argument" || field != tc.field {
				t.Errorf("%s: %d %s on %q, want 400 invalid_argument on %q: %s", tc.name, r.status, code, field, tc.field, r.body)
			}
		}
		if n := len(items(c.must(200, "GET", "/api/v1/webhooks", nil))); n != 0 {
			t.Errorf("%d webhooks stored", n)
		}
		if n := len(items(c.must(200, "GET", "/api/v1/workflows/w/filters", nil))); n != 0 {
			t.Errorf("%d filters stored", n)
		}

		wk := c.registerWorker("w")
		c.push("k", map[string]any{})
		a := c.pollOne(wk)
		hb := c.must(200, "POST", "/api/v1/workers/"+wk+"/heartbeat", fmt.Sprintf(`{"step_runs":[{"step_run_id":%q,"lease_id":%q},{"step_run_id":%q,"lease_id":"\u0000"}]}`,
			a["step_run_id"], a["lease_id"], "x"))
		if lost := hb["cancelled"].([]any); len(lost) != 1 || lost[0] != "x" {
			t.Errorf("heartbeat: cancelled %v, want [x]", lost)
		}
		many := make([]string, 1001)
		for i := range many {
			many[i] = `{"step_run_id":"x","lease_id":"y"}`
		}
		r := c.do("POST", "/api/v1/workers/"+wk+"/heartbeat", `{"step_runs":[`+strings.Join(many, ",")+`]}`)
		if _, field := r.errCodeField(t); r.status != 400 || field != "step_runs" {
			t.Errorf("heartbeat of 1001 step-runs: %d %s", r.status, r.body)
		}
	})
}

// TestPathsAndQueriesWithNULAreRefusedAlike: a path segment or query value holding U+0000
// (%00) reached the store as an id, a name or a filter: PostgreSQL's text refuses it
// (SQLSTATE 22021, a 500) where SQLite found nothing. Such a path names nothing (404) and
// such a query parameter is refused (400 naming it) on every id-taking route, on both
// stores; invalid UTF-8 keeps its answers alongside.
func TestPathsAndQueriesWithNULAreRefusedAlike(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("w", "k", "s"))
		wk := c.registerWorker("w")
		for _, bad := range []string{"%00", "a%00b", "%FF%00"} {
			for _, tc := range []struct{ method, path string }{
				{"GET", "/api/v1/events/" + bad},
				{"POST", "/api/v1/events/" + bad + "/replay"},
				{"POST", "/api/v1/events/" + bad + "/cancel"},
				{"PUT", "/api/v1/workflows/" + bad},
				{"GET", "/api/v1/workflows/" + bad},
				{"POST", "/api/v1/workflows/" + bad + "/enable"},
				{"POST", "/api/v1/workflows/" + bad + "/disable"},
				{"POST", "/api/v1/workflows/" + bad + "/runs"},
				{"GET", "/api/v1/workflows/" + bad + "/filters"},
				{"POST", "/api/v1/workflows/" + bad + "/filters"},
				{"GET", "/api/v1/workflows/w/filters/" + bad},
				{"DELETE", "/api/v1/workflows/w/filters/" + bad},
				{"GET", "/api/v1/runs/" + bad},
				{"POST", "/api/v1/runs/" + bad + "/cancel"},
				{"DELETE", "/api/v1/tokens/" + bad},
				{"PUT", "/api/v1/event-schemas/" + bad},
				{"GET", "/api/v1/event-schemas/" + bad},
				{"DELETE", "/api/v1/event-schemas/" + bad},
				{"GET", "/api/v1/webhooks/" + bad},
				{"PATCH", "/api/v1/webhooks/" + bad},
				{"DELETE", "/api/v1/webhooks/" + bad},
				{"GET", "/api/v1/webhooks/" + bad + "/deliveries"},
				{"POST", "/api/v1/tenants/" + bad + "/webhooks/h"},
				{"POST", "/api/v1/workers/" + bad + "/poll"},
				{"POST", "/api/v1/workers/" + bad + "/heartbeat"},
				{"POST", "/api/v1/workers/" + wk + "/step-runs/" + bad + "/complete"},
				{"POST", "/api/v1/workers/" + wk + "/step-runs/" + bad + "/fail"},
			} {
				r := c.do(tc.method, tc.path, `{}`)
				if code, _ := r.errCodeField(t); r.status != 404 || code != "not_found" {
					t.Errorf("%s %s: %d %s, want 404 not_found", tc.method, tc.path, r.status, r.body)
				}
			}
			for _, tc := range []struct{ path, param string }{
				{"/api/v1/events?key=" + bad, "key"},
				{"/api/v1/events?workflow=" + bad, "workflow"},
				{"/api/v1/events?metadata[a]=" + bad, "metadata[a]"},
				{"/api/v1/events?cursor=" + bad, "cursor"},
				{"/api/v1/runs?workflow=" + bad, "workflow"},
				{"/api/v1/runs?event_id=" + bad, "event_id"},
				{"/api/v1/tokens?tenant=" + bad, "tenant"},
				{"/api/v1/webhooks/h/deliveries?cursor=" + bad, "cursor"},
			} {
				r := c.do("GET", tc.path, nil)
				if code, field := r.errCodeField(t); r.status != 400 || code != "invalid_argument" || field != tc.param {
					t.Errorf("GET %s: %d %s, want 400 invalid_argument naming %s", tc.path, r.status, r.body, tc.param)
				}
			}
		}
		if n := len(items(c.must(200, "GET", "/api/v1/workflows", nil))); n != 1 {
			t.Errorf("%d workflows, want only w", n)
		}
	})
}
