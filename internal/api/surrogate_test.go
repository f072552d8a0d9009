package api_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// rawPost posts body as it is, with contentType and extra headers, and the bundle's token.
func rawPost(t *testing.T, b *bundle, path, contentType string, h http.Header, body string) resp {
	t.Helper()
	req, err := http.NewRequest("POST", b.env.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+b.env.Token)
	req.Header.Set("Content-Type", contentType)
	res, err := validatingClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: data}
}

// TestLoneSurrogatesAreRefusedAlike: JSON may escape half of a UTF-16 surrogate pair on its
// own ("\ud800"), which names no character. PostgreSQL's jsonb refuses it (SQLSTATE 22P02,
// which answered 500) while SQLite stored it; now every entry point that takes JSON refuses
// it with 400 and the field on both stores, as for U+0000, in a value or in a key, and
// stores nothing. A proper pair (an emoji) is accepted and reads back as its character.
func TestLoneSurrogatesAreRefusedAlike(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("w", "k", "s"))
		const json, ce = "application/json", "application/cloudevents+json"
		refused := []struct {
			name, path, contentType, body, field string
		}{
			{"payload value", "/api/v1/events", json, `{"key":"k","payload":{"s":"\ud800"}}`, "payload"},
			{"payload key", "/api/v1/events", json, `{"key":"k","payload":{"\udc00":1}}`, "payload"},
			{"nested, high then not low", "/api/v1/events", json, `{"key":"k","payload":{"a":[{"s":"x\ud800\u0041"}]}}`, "payload"},
			{"metadata", "/api/v1/events", json, `{"key":"k","additional_metadata":{"s":"\uDBFF"}}`, "additional_metadata"},
			{"metadata key", "/api/v1/events", json, `{"key":"k","additional_metadata":{"\ud800":"v"}}`, "additional_metadata"},
			{"bulk", "/api/v1/events/bulk", json, `{"events":[{"key":"k"},{"key":"k","payload":{"s":"\ud800"}}]}`, "events[1].payload"},
			{"manual run", "/api/v1/workflows/w/runs", json, `{"input":{"s":"\ud800"}}`, "input"},
			{"filter payload", "/api/v1/workflows/w/filters", json, `{"scope":"acme","payload":{"s":"\ud800"}}`, "payload"},
			{"webhook static payload", "/api/v1/webhooks", json, `{"name":"gh","source":"github","secret":"s3cret","event_key_expression":"'gh:push'","static_payload":{"s":"\ud800"}}`, "static_payload"},
			{"CloudEvent data", "/api/v1/events", ce, `{"specversion":"1.0","type":"k","source":"/t","id":"1","data":{"s":"\ud800"}}`, "data"},
			{"CloudEvent attribute", "/api/v1/events", ce, `{"specversion":"1.0","type":"k","source":"/t","id":"2","subject":"\ud800","data":{}}`, "subject"},
			{"CloudEvents batch", "/api/v1/events", "application/cloudevents-batch+json", `[{"specversion":"1.0","type":"k","source":"/t","id":"3","data":{"s":"\udfff"}}]`, "[0].data"},
		}
		for _, tc := range refused {
			r := rawPost(t, b, tc.path, tc.contentType, nil, tc.body)
			if r.status != 400 {
				t.Errorf("%s: status %d, want 400: %s", tc.name, r.status, r.body)
				continue
			}
			if code, field := r.errCodeField(t); code != "invalid_argument" || field != tc.field {
				t.Errorf("%s: %s on %q, want invalid_argument on %q: %s", tc.name, code, field, tc.field, r.body)
			}
		}
		// Binary-mode CloudEvent: the body is the data.
		r := rawPost(t, b, "/api/v1/events", json, http.Header{"Ce-Specversion": {"1.0"}, "Ce-Type": {"k"}, "Ce-Source": {"/t"}, "Ce-Id": {"4"}}, `{"s":"\ud800"}`)
		if code, field := r.errCodeField(t); r.status != 400 || code != "invalid_argument" || field != "data" {
			t.Errorf("binary CloudEvent: %d %s, want 400 invalid_argument on data", r.status, r.body)
		}
		if n := len(items(c.must(200, "GET", "/api/v1/events", nil))); n != 0 {
			t.Errorf("%d events stored by refused pushes", n)
		}
		if n := len(items(c.must(200, "GET", "/api/v1/runs", nil))); n != 0 {
			t.Errorf("%d runs stored by refused requests", n)
		}
		if n := len(items(c.must(200, "GET", "/api/v1/workflows/w/filters", nil))); n != 0 {
			t.Errorf("%d filters stored by a refused request", n)
		}

		// A webhook's static payload on update, and a delivery (no token) whose body holds one.
		c.must(201, "POST", "/api/v1/webhooks", map[string]any{"name": "gh", "source": "github", "secret": "s3cret", "event_key_expression": "'gh:push'"})
		req, _ := http.NewRequest("PATCH", b.env.URL+"/api/v1/webhooks/gh", strings.NewReader(`{"static_payload":{"s":"\ud800"}}`))
		req.Header.Set("Authorization", "Bearer "+b.env.Token)
		res, err := validatingClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if r := (resp{status: res.StatusCode, body: body}); r.status != 400 {
			t.Errorf("PATCH static payload: %d %s, want 400", r.status, r.body)
		} else if _, field := r.errCodeField(t); field != "static_payload" {
			t.Errorf("PATCH static payload: field %q, want static_payload", field)
		}
		u := c.must(200, "GET", "/api/v1/webhooks/gh", nil)["url"].(string)
		delivery := `{"ref":"refs/heads/\ud800"}`
		r = deliver(t, u, githubHeaders("s3cret", "push", "d-1", delivery), json, []byte(delivery))
		if code, _ := r.errCodeField(t); r.status != 400 || code != "malformed_body" || !bytes.Contains(r.body, []byte("surrogate")) {
			t.Errorf("delivery with a lone surrogate: %d %s, want 400 malformed_body about the surrogate", r.status, r.body)
		}
		ds := deliveries(t, c, "gh")
		if len(ds) != 1 || ds[0]["status_code"] != float64(400) || ds[0]["outcome"] != "refused" {
			t.Errorf("deliveries = %v, want one refused with 400", ds)
		}
		if n := len(items(c.must(200, "GET", "/api/v1/events?key=gh:push", nil))); n != 0 {
			t.Errorf("%d events stored by a refused delivery", n)
		}

		// A step output: refused, and the lease still ours.
		ok := rawPost(t, b, "/api/v1/events", json, nil, `{"key":"k","payload":{"emoji":"\ud83d\ude00","text":"\\ud800"}}`)
		if ok.status != 201 {
			t.Fatalf("a proper surrogate pair: %d %s, want 201", ok.status, ok.body)
		}
		ev := ok.json(t)["event"].(map[string]any)
		if p := ev["payload"].(map[string]any); p["emoji"] != "\U0001F600" || p["text"] != `\ud800` {
			t.Errorf("payload read back as %v, want the emoji and the text \\ud800", p)
		}
		worker := c.registerWorker("w")
		a := c.pollOne(worker)
		r = rawPost(t, b, "/api/v1/workers/"+worker+"/step-runs/"+a["step_run_id"].(string)+"/complete", json, nil,
			`{"lease_id":"`+a["lease_id"].(string)+`","output":{"s":"\ud800"}}`)
		if code, field := r.errCodeField(t); r.status != 400 || code != "invalid_argument" || field != "output" {
			t.Errorf("complete with a lone surrogate: %d %s, want 400 invalid_argument on output", r.status, r.body)
		}
		if r := c.complete(worker, a, map[string]any{"done": true}); r.status != 200 {
			t.Fatalf("completing after the refused output: %d %s", r.status, r.body)
		}
	})
}
