package api_test

import (
	"net/http"
	"testing"
)

// TestHeadAnswersAsGet: every GET route answers HEAD with GET's status and headers and no
// body (net/http serves HEAD with a GET pattern; openapi.json describes each HEAD
// operation, and TestOpenAPIDescribesEveryRoute holds the two together). A path without
// a GET route answers HEAD as it answers GET: 404.
func TestHeadAnswersAsGet(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("greet", "user:created", "hello"))
		push := b.c.push("user:created", map[string]any{"user_id": "u_1"})
		event := push["event"].(map[string]any)["id"].(string)
		run := runIDs(push)["greet"]
		b.c.must(201, "PUT", "/api/v1/event-schemas/user:created", map[string]any{"schema": map[string]any{"type": "object"}})
		filter := b.c.must(201, "POST", "/api/v1/workflows/greet/filters", map[string]any{"scope": "acme"})["id"].(string)
		b.c.must(201, "POST", "/api/v1/webhooks", map[string]any{"name": "hook", "source": "generic",
			"auth": map[string]any{"type": "api_key", "header": "X-Api-Key", "key": "k"}, "event_key_expression": "'hook:x'"})

		anon := b.c.with("")
		for _, tc := range []struct {
			c    *client
			path string
			want int
		}{
			{anon, "/healthz", 200},
			{anon, "/api/v1/openapi.json", 200},
			{b.c, "/api/v1/events", 200},
			{b.c, "/api/v1/events/" + event, 200},
			{b.c, "/api/v1/runs?workflow=greet", 200},
			{b.c, "/api/v1/runs/" + run, 200},
			{b.c, "/api/v1/workflows", 200},
			{b.c, "/api/v1/workflows/greet", 200},
			{b.c, "/api/v1/workflows/greet/filters", 200},
			{b.c, "/api/v1/workflows/greet/filters/" + filter, 200},
			{b.c, "/api/v1/event-schemas", 200},
			{b.c, "/api/v1/event-schemas/user:created", 200},
			{b.c, "/api/v1/tokens", 200},
			{b.c, "/api/v1/tenants", 200},
			{b.c, "/api/v1/webhooks", 200},
			{b.c, "/api/v1/webhooks/hook", 200},
			{b.c, "/api/v1/webhooks/hook/deliveries", 200},
			{b.c, "/metrics", 200},
			{b.c, "/api/v1/workflows/nope", 404},
			{b.c, "/api/v1/webhooks/nope", 404},
			{b.c, "/api/v1/event-schemas/nope", 404},
			{b.c, "/api/v1/runs/0193a000-0000-7000-8000-000000000000", 404},
			{b.c, "/api/v1/runs?limit=0", 400},
			{anon, "/api/v1/events", 401},
			{b.c, "/api/v1/workers", 404}, // POST only
		} {
			get := tc.c.do("GET", tc.path, nil)
			head := tc.c.do("HEAD", tc.path, nil)
			if get.status != tc.want || head.status != get.status {
				t.Errorf("%s: GET %d, HEAD %d, want %d", tc.path, get.status, head.status, tc.want)
			}
			if len(head.body) != 0 {
				t.Errorf("HEAD %s: a body: %s", tc.path, head.body)
			}
			for _, h := range []string{"Content-Type", "WWW-Authenticate", "Retry-After"} {
				if head.header.Get(h) != get.header.Get(h) {
					t.Errorf("%s: %s is %q for HEAD, %q for GET", tc.path, h, head.header.Get(h), get.header.Get(h))
				}
			}
		}
		if r := anon.do("HEAD", "/api/v1/events", nil); r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("HEAD without a token: no WWW-Authenticate (%v)", r.header)
		}
		if r := b.c.do("HEAD", "/api/v1/events/"+event, nil); r.status != http.StatusOK {
			t.Errorf("HEAD of an event: %d", r.status)
		}
	})
}
