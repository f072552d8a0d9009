package api_test

import (
	"fmt"
	"testing"

	"github.com/heraldhq/herald/internal/testenv"
)

// TestTrailingDataIsRefused: a body is one JSON value and nothing but space after it. The
// check asked json.Decoder.More, which says whether an array or object goes on and so took
// a stray "}" or "]" after the value for the end: {"key":"k"} } was pushed. Found by
// FuzzWorkerProtocol (a completion with " }" after it was accepted).
func TestTrailingDataIsRefused(t *testing.T) {
	t.Parallel()
	b := start(t, testenv.Options{})
	c := b.c
	c.putWorkflow(simpleWorkflow("w", "k", "s"))
	for _, tail := range []string{" }", "]", "}}", "\n]", " x", " {}"} {
		for _, tc := range []struct{ path, contentType, body string }{
			{"/api/v1/events", "application/json", `{"key":"k"}`},
			{"/api/v1/events/bulk", "application/json", `{"events":[{"key":"k"}]}`},
			{"/api/v1/workflows/w/runs", "application/json", `{"input":{}}`},
			{"/api/v1/events", "application/cloudevents+json", `{"specversion":"1.0","type":"k","source":"/s","id":"1"}`},
		} {
			r := rawPost(t, b, tc.path, tc.contentType, nil, tc.body+tail)
			if code, _ := r.errCodeField(t); r.status != 400 || code != "malformed_json" {
				t.Errorf("%s %q: %d %s, want 400 malformed_json", tc.path, tc.body+tail, r.status, r.body)
			}
		}
		r := rawPost(t, b, "/api/v1/events", "application/json", nil, fmt.Sprintf(`{"key":"k","additional_metadata":{"a":1}%s}`, tail))
		if r.status != 400 {
			t.Errorf("metadata with %q inside the body: %d %s", tail, r.status, r.body)
		}
	}
	if evs, runs := counts(t, c); evs != 0 || runs != 0 {
		t.Fatalf("refused bodies stored %d events and %d runs", evs, runs)
	}
	// Space after the value is fine.
	c.must(201, "POST", "/api/v1/events", "{\"key\":\"k\"} \n\t ")
}
