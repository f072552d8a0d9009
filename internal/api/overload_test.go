package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/secrets"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testkit"
)

// TestOverloadedIs429WithRetryAfter fills the ingest queue of an engine whose commit loop
// does not run yet: a single push, a bulk push, a manual run and a webhook delivery are each answered 429
// overloaded with Retry-After, as openapi.json says (the validating client checks the
// status, the header and the body), and none of them stores anything.
func TestOverloadedIs429WithRetryAfter(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			box, err := secrets.NewBox(secrets.NewKey()) // webhooks keep their secrets sealed
			if err != nil {
				t.Fatal(err)
			}
			// The queue holds 4 KiB and the commit loop is not started.
			_, eng, secret, tenantID := testenv.IdleEngine(t, name, engine.Config{MaxQueuedBytes: 4096, Secrets: box})
			srv := httptest.NewServer(api.New(eng, api.Config{}))
			t.Cleanup(srv.Close)
			c := &client{t: t, url: srv.URL, token: secret}
			c.putWorkflow(simpleWorkflow("greet", "user:created", "hello"))

			// A push whose caller gave up stays queued, and fills the queue.
			gone, cancel := context.WithCancel(ctx)
			cancel()
			big := `{"blob":"` + strings.Repeat("x", 3000) + `"}`
			if _, err := eng.Push(gone, tenantID, []engine.EventInput{{Key: "filler", Payload: []byte(big)}}, false); !errors.Is(err, context.Canceled) {
				t.Fatalf("filler: %v", err)
			}

			for _, call := range []struct{ method, path, body string }{
				{"POST", "/api/v1/events", `{"key":"user:created","payload":` + big + `}`},
				{"POST", "/api/v1/events/bulk", `{"events":[{"key":"user:created","payload":` + big + `}]}`},
				{"POST", "/api/v1/workflows/greet/runs", `{"input":` + big + `}`},
			} {
				r := c.do(call.method, call.path, call.body)
				if code, _ := r.errCodeField(t); r.status != 429 || code != "overloaded" || r.header.Get("Retry-After") != "1" {
					t.Errorf("%s %s: %d Retry-After %q %s", call.method, call.path, r.status, r.header.Get("Retry-After"), r.body)
				}
			}

			// A webhook delivery too (its sender's retries are what Retry-After is for).
			c.must(201, "POST", "/api/v1/webhooks", map[string]any{"name": "hook", "source": "generic",
				"auth": map[string]any{"type": "api_key", "header": "X-Api-Key", "key": "k"}, "event_key_expression": "'hook:x'"})
			req, err := http.NewRequest("POST", srv.URL+"/api/v1/tenants/"+tenantID+"/webhooks/hook", strings.NewReader(big))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Api-Key", "k")
			res, err := validatingClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
				t.Errorf("webhook delivery: %d Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
			}

			// Nothing refused was stored: once the loop runs, the filler alone commits.
			eng.Start()
			evs := testkit.Poll(t, "the queued filler to commit", func() ([]map[string]any, bool) {
				evs := items(c.must(200, "GET", "/api/v1/events", nil))
				return evs, len(evs) > 0
			})
			if len(evs) != 1 || evs[0]["key"] != "filler" {
				t.Fatalf("events: %v", evs)
			}
			if runs := items(c.must(200, "GET", "/api/v1/runs", nil)); len(runs) != 0 {
				t.Fatalf("runs: %v", runs)
			}
		})
	}
}

// TestReplayRefusedBySchemaIs422: a replay is a new push of the stored payload, held to the
// key's payload schema as it is now. An event stored before a schema that it violates
// cannot be replayed: 422 schema_violation naming the failing value, as openapi.json says,
// and nothing is stored.
func TestReplayRefusedBySchemaIs422(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("bill", "order:paid", "charge"))
		orig := b.c.push("order:paid", map[string]any{"currency": "EUR"})["event"].(map[string]any)["id"].(string)
		b.c.must(201, "PUT", "/api/v1/event-schemas/order:paid", map[string]any{"schema": map[string]any{
			"type": "object", "required": []string{"amount"},
		}})

		r := b.c.do("POST", "/api/v1/events/"+orig+"/replay", nil)
		code, field := r.errCodeField(t)
		if r.status != 422 || code != "schema_violation" || field != "payload/amount" {
			t.Fatalf("replay: %d %s", r.status, r.body)
		}
		if evs := items(b.c.must(200, "GET", "/api/v1/events?key=order:paid", nil)); len(evs) != 1 || evs[0]["id"] != orig {
			t.Fatalf("events after a refused replay: %v", evs)
		}
		if runs := items(b.c.must(200, "GET", "/api/v1/runs?workflow=bill", nil)); len(runs) != 1 {
			t.Fatalf("runs after a refused replay: %v", runs)
		}
	})
}
