package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testkit"
)

// TestJSONBodiesUnderAnyContentType: every route that takes a JSON body reads it as JSON
// whatever its Content-Type says, as `curl -d` sends it (application/x-www-form-urlencoded),
// as fetch sends a string (text/plain;charset=UTF-8), and with no Content-Type at all; and
// the OpenAPI document accepts each of these requests (the validating client fails the
// test when the document refuses a request the server accepted).
func TestJSONBodiesUnderAnyContentType(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		for i, ct := range []string{"application/x-www-form-urlencoded", "text/plain;charset=UTF-8", ""} {
			c := b.c
			wf, key := fmt.Sprintf("wf-%d", i), fmt.Sprintf("lenient:%d", i)
			send := func(want int, method, path, body string) resp {
				t.Helper()
				r := c.doAs(method, path, ct, body)
				if r.status != want {
					t.Fatalf("Content-Type %q: %s %s: %d %s, want %d", ct, method, path, r.status, r.body, want)
				}
				return r
			}
			send(200, "PUT", "/api/v1/workflows/"+wf,
				`{"name":"`+wf+`","triggers":["`+key+`"],"steps":[{"name":"only"}]}`)
			// A filter on a workflow of its own: the pushes below are not scoped.
			send(200, "PUT", "/api/v1/workflows/"+wf+"-scoped", `{"name":"`+wf+`-scoped","steps":[{"name":"only"}]}`)
			send(201, "POST", "/api/v1/workflows/"+wf+"-scoped/filters", `{"scope":"acme"}`)
			send(201, "PUT", "/api/v1/event-schemas/"+key, `{"schema":{"type":"object"}}`)
			send(201, "POST", "/api/v1/events", `{"key":"`+key+`","payload":{"user_id":"u_1"}}`)
			send(201, "POST", "/api/v1/events/bulk", `{"events":[{"key":"`+key+`","payload":{"user_id":"u_2"}}]}`)
			send(201, "POST", "/api/v1/workflows/"+wf+"/runs", `{"input":{"user_id":"u_3"}}`)
			send(201, "POST", "/api/v1/tokens", `{"name":"ci-`+wf+`"}`)
			send(201, "POST", "/api/v1/tenants", `{"name":"tenant-`+wf+`"}`)
			hook := "hook-" + wf
			send(201, "POST", "/api/v1/webhooks",
				`{"name":"`+hook+`","source":"generic","auth":{"type":"api_key","header":"X-Api-Key","key":"k"},"event_key_expression":"'hook:x'"}`)
			send(200, "PATCH", "/api/v1/webhooks/"+hook, `{"event_key_expression":"'hook:y'"}`)

			worker := send(201, "POST", "/api/v1/workers",
				`{"name":"curl","workflows":["`+wf+`"],"slots":3}`).json(t)["id"].(string)
			base := "/api/v1/workers/" + worker
			var as []map[string]any
			testkit.Poll(t, "the three runs' steps", func() (int, bool) {
				for _, a := range send(200, "POST", base+"/poll", `{"max":3,"wait":"1s"}`).json(t)["assignments"].([]any) {
					as = append(as, a.(map[string]any))
				}
				return len(as), len(as) >= 3
			})
			lease := func(a map[string]any) string {
				return fmt.Sprintf(`"step_run_id":%q,"lease_id":%q`, a["step_run_id"], a["lease_id"])
			}
			send(200, "POST", base+"/heartbeat", `{"step_runs":[{`+lease(as[0])+`}]}`)
			send(200, "POST", fmt.Sprintf("%s/step-runs/%s/complete", base, as[0]["step_run_id"]),
				fmt.Sprintf(`{"lease_id":%q,"output":{"ok":true}}`, as[0]["lease_id"]))
			send(200, "POST", fmt.Sprintf("%s/step-runs/%s/fail", base, as[1]["step_run_id"]),
				fmt.Sprintf(`{"lease_id":%q,"error":"boom","retryable":false}`, as[1]["lease_id"]))

			// What was sent was stored as JSON, not as a form or text.
			evs := items(c.must(200, "GET", "/api/v1/events?key="+key, nil))
			if len(evs) != 2 || !strings.Contains(fmt.Sprint(evs[0]["payload"]), "u_") {
				t.Fatalf("Content-Type %q: events %v", ct, evs)
			}
		}
	})
}
