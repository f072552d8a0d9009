package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestOutOfRangeNumbersAreRefusedAlike: PostgreSQL's jsonb keeps numbers as numeric, which
// refuses more than 131,072 digits before the point or 16,383 after it ({"a":1e131072}
// answered 500 while SQLite stored it), and writes numbers out in full when they are read
// (a 9-byte 1e131071 read back as 131,072 characters). Every JSON entry point now refuses,
// with 400 and the field, a number beyond a double's range or with more than 400 digits
// after its point once written out, and stores nothing; numbers within those bounds are
// stored and read back with their value on both stores.
func TestOutOfRangeNumbersAreRefusedAlike(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("w", "k", "s"))
		const js, ce = "application/json", "application/cloudevents+json"
		for _, n := range []string{"1e131072", "1e309", "-1.8e308", "1e-16384", "1e-16383", "0e-401", "0e9999999999999"} {
			for _, tc := range []struct {
				name, path, contentType, body, field string
			}{
				{"payload", "/api/v1/events", js, `{"key":"k","payload":{"a":[1,%s]}}`, "payload"},
				{"metadata", "/api/v1/events", js, `{"key":"k","additional_metadata":{"a":%s}}`, "additional_metadata"},
				{"bulk", "/api/v1/events/bulk", js, `{"events":[{"key":"k"},{"key":"k","payload":{"a":%s}}]}`, "events[1].payload"},
				{"manual run", "/api/v1/workflows/w/runs", js, `{"input":{"a":%s}}`, "input"},
				{"filter payload", "/api/v1/workflows/w/filters", js, `{"scope":"acme","payload":{"a":%s}}`, "payload"},
				{"CloudEvent data", "/api/v1/events", ce, `{"specversion":"1.0","type":"k","source":"/t","id":"1","data":{"a":%s}}`, "data"},
				{"CloudEvent attribute", "/api/v1/events", ce, `{"specversion":"1.0","type":"k","source":"/t","id":"2","n":%s}`, "n"},
			} {
				r := rawPost(t, b, tc.path, tc.contentType, nil, fmt.Sprintf(tc.body, n))
				if r.status != 400 {
					t.Errorf("%s %s: status %d, want 400: %.300s", tc.name, n, r.status, r.body)
					continue
				}
				if code, field := r.errCodeField(t); code != "invalid_argument" || field != tc.field {
					t.Errorf("%s %s: %s on %q, want invalid_argument on %q: %s", tc.name, n, code, field, tc.field, r.body)
				}
			}
		}
		if evs, runs := counts(t, c); evs != 0 || runs != 0 {
			t.Fatalf("refused requests stored %d events and %d runs", evs, runs)
		}
		// At the bounds: accepted, stored, and read back with the same value.
		in := `{"max":1.7976931348623157e308,"min":-1.7976931348623157e308,"tiny":5e-324,"deep":1e-400,"zero":0e-400,"big":1` +
			strings.Repeat("0", 300) + `}`
		ev := rawPost(t, b, "/api/v1/events", js, nil, `{"key":"k","payload":`+in+`}`)
		if ev.status != 201 {
			t.Fatalf("numbers at the bounds: %d %.300s", ev.status, ev.body)
		}
		id := ev.json(t)["event"].(map[string]any)["id"].(string)
		back := c.do("GET", "/api/v1/events/"+id, nil)
		var got struct {
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(back.body, &got); err != nil || back.status != 200 || !sameJSON(got.Payload, []byte(in)) {
			t.Fatalf("stored %s, read back %s", in, got.Payload)
		}
		// A step's output: refused, and the step stays the worker's to report.
		wk := c.registerWorker("w")
		a := c.pollOne(wk)
		out := c.do("POST", fmt.Sprintf("/api/v1/workers/%s/step-runs/%s/complete", wk, a["step_run_id"]),
			fmt.Sprintf(`{"lease_id":%q,"output":{"a":1e400}}`, a["lease_id"]))
		if code, field := out.errCodeField(t); out.status != 400 || code != "invalid_argument" || field != "output" {
			t.Fatalf("output 1e400: %d %s", out.status, out.body)
		}
		if r := c.complete(wk, a, map[string]any{"a": 1e300}); r.status != 200 {
			t.Fatalf("completing after the refusal: %d %s", r.status, r.body)
		}
	})
}

// TestMetadataNumbersAreFilteredAlike: metadata is filtered by the text of its numbers,
// and PostgreSQL's jsonb keeps a number in its canonical form (1e2 as 100) where SQLite kept
// it as pushed, so metadata[e]=100 found the event on PostgreSQL only and metadata[e]=1e2 on
// SQLite only. Metadata numbers are now stored in the canonical form on both stores, read
// back so, and found by it. Filter values (and the filters listing's scope) that are not
// UTF-8, which PostgreSQL refused with a 500, are 400 naming the parameter. Found by
// FuzzListQuery.
func TestMetadataNumbersAreFilteredAlike(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("w", "k", "s"))
		ev := rawPost(t, b, "/api/v1/events", "application/json", nil,
			`{"key":"k","additional_metadata":{"e":1e2,"f":1.50,"g":1.5e1,"z":-0.0,"s":"1e2","d":1,"d":2}}`)
		if ev.status != 201 {
			t.Fatalf("push: %d %s", ev.status, ev.body)
		}
		want := map[string]any{"e": "100", "f": "1.50", "g": "15", "z": "0.0", "s": `"1e2"`, "d": "2"}
		for _, path := range []string{"/api/v1/events", "/api/v1/runs"} {
			for k, v := range want {
				if n := len(items(c.must(200, "GET", path+"?metadata["+k+"]="+strings.Trim(v.(string), `"`), nil))); n != 1 {
					t.Errorf("%s?metadata[%s]=%s: %d items, want 1", path, k, v, n)
				}
			}
			for _, q := range []string{"metadata[e]=1e2", "metadata[f]=1.5", "metadata[g]=1.5e1", "metadata[z]=-0.0", "metadata[d]=1"} {
				if n := len(items(c.must(200, "GET", path+"?"+q, nil))); n != 0 {
					t.Errorf("%s?%s: %d items, want none", path, q, n)
				}
			}
		}
		var list struct {
			Items []struct {
				AdditionalMetadata json.RawMessage `json:"additional_metadata"`
			} `json:"items"`
		}
		if err := json.Unmarshal(c.do("GET", "/api/v1/events", nil).body, &list); err != nil || len(list.Items) != 1 {
			t.Fatalf("listing: %v", err)
		}
		dec := json.NewDecoder(bytes.NewReader(list.Items[0].AdditionalMetadata))
		dec.UseNumber()
		var meta map[string]any
		if err := dec.Decode(&meta); err != nil || len(meta) != len(want) {
			t.Fatalf("metadata reads back as %s", list.Items[0].AdditionalMetadata)
		}
		for k, v := range want {
			if s := fmt.Sprint(meta[k]); s != strings.Trim(v.(string), `"`) {
				t.Errorf("metadata %s reads back as %s, want %s", k, s, v)
			}
		}
		for _, tc := range []struct{ path, field string }{
			{"/api/v1/events?metadata[s]=%ff", "metadata[s]"},
			{"/api/v1/events?metadata=s=caf%e9", "metadata"},
			{"/api/v1/runs?metadata[%ff]=1", "metadata[\ufffd]"},
			{"/api/v1/workflows/w/filters?scope=%ff", "scope"},
			{"/api/v1/workflows/w/filters?scope=a&scope=b", "scope"},
		} {
			r := c.do("GET", tc.path, nil)
			if code, field := r.errCodeField(t); r.status != 400 || code != "invalid_argument" || field != tc.field {
				t.Errorf("%s: %d %s on %q, want 400 invalid_argument on %q: %s", tc.path, r.status, code, field, tc.field, r.body)
			}
		}
	})
}
