package api_test

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/store"
)

// FuzzWebhookDelivery posts arbitrary bodies, JSON or form-encoded (the Content-Type is
// fuzzed too), to a generic webhook's receive URL with its API key, so that every body
// passes verification and reaches decoding and the webhook's expressions (event key,
// scope and delivery id from the body, or scope and delivery id from a header). Every delivery is recorded with the status it was
// answered; an accepted one is an event of the webhook whose payload is the body (a JSON
// object, or the form's fields).
func FuzzWebhookDelivery(f *testing.F) {
	const form = "application/x-www-form-urlencoded"
	for _, s := range [][2]string{
		{"application/json", `{"type":"paid","customer":"cus_1","id":"evt_1","data":{"a":[1,2]}}`},
		{"application/json", `{"type":"paid","id":"evt_1"}`},
		{"application/json", `{"type":"a b"}`},
		{"application/json", `{"type":{"x":1}}`},
		{"application/json", `{"customer":["x"]}`},
		{"application/json", `{"id":"` + strings.Repeat("i", 256) + `"}`},
		{"application/json; charset=utf-8", `{}`},
		{"", ``},
		{"text/plain", `{"a":1}`},
		{"application/json", `[1]`},
		{"application/json", `{"a":"\u0000"}`},
		{"application/json", `{"a":1} {}`},
		{form, "type=paid&customer=cus_1&id=1"},
		{form, "type=paid&type=refunded"},
		{form, "payload=%7B%22type%22%3A%22slack%22%7D"},
		{form, "payload=%7Bnot+json"},
		{form + "; charset=utf-8", "a=%zz"},
		{form, "type=paid&customer=%ff"},
		{form, "type=paid&id=%fe"},
		{form, "%ff=1&%fe=2"},
		{form, "a=%00"},
		{form, ""},
	} {
		f.Add(s[0], "", []byte(s[1]))
	}
	f.Add("application/json", "cus_9", []byte(`{"type":"paid"}`))
	f.Add("application/json", "caf\xe9", []byte(`{"type":"paid"}`))
	f.Add("application/json", "\xff", []byte(`{"type":"paid"}`))
	fs := pushWorld(f)
	fs.setup(f, 201, "POST", "/api/v1/webhooks", `{"name":"hook","source":"generic","auth":{"type":"api_key","header":"X-Api-Key","key":"k_live_1"},
		"event_key_expression":"has(input.type) ? 'hook:' + string(input.type) : 'hook:none'",
		"scope_expression":"has(input.customer) ? string(input.customer) : ('x-customer' in headers ? headers['x-customer'] : '')",
		"dedupe_expression":"has(input.id) ? string(input.id) : ('x-delivery' in headers ? headers['x-delivery'] : '')"}`)
	f.Fuzz(func(t *testing.T, contentType, customer string, body []byte) {
		ct, ok := headerValue(contentType)
		cus, ok2 := headerValue(customer)
		if !ok || !ok2 {
			t.Skip("not a header value a client can send")
		}
		h := http.Header{"X-Api-Key": {"k_live_1"}}
		if ct != "" {
			h.Set("Content-Type", ct)
		}
		if cus != "" {
			h.Set("X-Customer", cus)
			h.Set("X-Delivery", cus)
		}
		for _, r := range fs.do(t, fuzzRequest{method: "POST", header: h, body: body, noAuth: true,
			pathOf: func(s *fuzzStore) string { return "/api/v1/tenants/" + s.tenant + "/webhooks/hook" }}) {
			ds, err := r.store.eng.ListWebhookDeliveries(context.Background(), r.store.tenant, "hook", store.DeliveryFilter{Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) == 0 || ds[0].StatusCode != r.status {
				t.Fatalf("%s: answered %d, the delivery log has %+v", r.store.name, r.status, ds)
			}
			if r.status >= 300 {
				continue
			}
			var got pushOut
			if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusOK {
				t.Fatalf("%s: %d %v: %s", r.store.name, r.status, err, r.body)
			}
			if got.Duplicate == r.stored {
				t.Fatalf("%s: duplicate %v, stored %v: %s", r.store.name, got.Duplicate, r.stored, r.body)
			}
			if got.Duplicate {
				continue
			}
			if !strings.HasPrefix(got.Event.Key, "hook:") {
				t.Fatalf("%s: key %q", r.store.name, got.Event.Key)
			}
			mt, _, _ := mime.ParseMediaType(ct)
			if mt != "application/x-www-form-urlencoded" {
				checkPushed(t, r, pushIn{Key: got.Event.Key, Scope: got.Event.Scope, Payload: body}, got)
				continue
			}
			vals, err := url.ParseQuery(string(body))
			if err != nil {
				t.Fatalf("%s: accepted a form that does not parse: %v", r.store.name, err)
			}
			var payload map[string]any
			if err := json.Unmarshal(got.Event.Payload, &payload); err != nil {
				t.Fatal(err)
			}
			if p := vals["payload"]; len(p) == 1 && strings.HasPrefix(strings.TrimSpace(p[0]), "{") {
				checkPushed(t, r, pushIn{Key: got.Event.Key, Scope: got.Event.Scope, Payload: json.RawMessage(p[0])}, got)
				continue
			}
			if len(payload) != len(vals) {
				t.Fatalf("%s: a form of %d fields became %s", r.store.name, len(vals), got.Event.Payload)
			}
			for k, vs := range vals {
				want := any(vs[0])
				if len(vs) > 1 {
					l := make([]any, len(vs))
					for i, v := range vs {
						l[i] = v
					}
					want = l
				}
				if !sameValue(payload[k], want) {
					t.Fatalf("%s: form field %q %q became %v", r.store.name, k, vs, payload[k])
				}
			}
			checkPushed(t, r, pushIn{Key: got.Event.Key, Scope: got.Event.Scope, Payload: got.Event.Payload}, got)
		}
	})
}
