package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/testenv"
)

func TestIdempotentPush(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("w", "k", "s"))
		first := b.c.must(201, "POST", "/api/v1/events", map[string]any{"key": "k", "idempotency_key": "order-1"})
		if first["duplicate"] != false {
			t.Fatalf("first push duplicate = %v, want false", first["duplicate"])
		}
		ev := first["event"].(map[string]any)
		runs := runIDs(first)

		// A repeat (even with another payload) answers 200 with the original event and runs.
		again := b.c.must(200, "POST", "/api/v1/events", map[string]any{"key": "k", "payload": map[string]any{"x": 1}, "idempotency_key": "order-1"})
		if again["duplicate"] != true || again["event"].(map[string]any)["id"] != ev["id"] || runIDs(again)["w"] != runs["w"] {
			t.Fatalf("repeat = %v, want the original %v", again, first)
		}

		// The Idempotency-Key header works like the body field.
		hdr := func(key string) resp {
			req, err := http.NewRequest("POST", b.c.url+"/api/v1/events", bytes.NewReader([]byte(`{"key":"k"}`)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+b.c.token)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", key)
			res, err := validatingClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			return resp{status: res.StatusCode, body: body}
		}
		h1 := hdr("order-1")
		if h1.status != 200 || h1.json(t)["event"].(map[string]any)["id"] != ev["id"] {
			t.Fatalf("header repeat: %d %s", h1.status, h1.body)
		}
		if h2 := hdr("order-2"); h2.status != 201 || h2.json(t)["duplicate"] != false {
			t.Fatalf("header new key: %d %s", h2.status, h2.body)
		}

		// Bulk: an event repeating a stored key, and two events sharing a new key.
		bulk := b.c.must(201, "POST", "/api/v1/events/bulk", map[string]any{"events": []any{
			map[string]any{"key": "k", "idempotency_key": "order-1"},
			map[string]any{"key": "k", "idempotency_key": "order-3"},
			map[string]any{"key": "k", "idempotency_key": "order-3"},
			map[string]any{"key": "k"},
		}})
		its := items(bulk)
		if its[0]["duplicate"] != true || its[0]["event"].(map[string]any)["id"] != ev["id"] {
			t.Fatalf("bulk item 0 = %v, want a duplicate of %v", its[0], ev["id"])
		}
		if its[1]["duplicate"] != false || its[2]["duplicate"] != true ||
			its[1]["event"].(map[string]any)["id"] != its[2]["event"].(map[string]any)["id"] || its[3]["duplicate"] != false {
			t.Fatalf("bulk items = %v", its)
		}
		// Stored: order-1, order-2, order-3 and the keyless event; 4 events, 4 runs.
		if n := len(items(b.c.must(200, "GET", "/api/v1/events", nil))); n != 4 {
			t.Fatalf("%d events stored, want 4", n)
		}
		if n := len(items(b.c.must(200, "GET", "/api/v1/runs", nil))); n != 4 {
			t.Fatalf("%d runs stored, want 4", n)
		}

		// A repeat is still validated: bad input is refused even when the key is live.
		r0 := b.c.do("POST", "/api/v1/events", map[string]any{"key": "k", "idempotency_key": "order-1",
			"parent_run_id": "01a209bb-8530-7625-b8ad-d65d5b3e4ff7"})
		if _, field := r0.errCodeField(t); r0.status != 400 || field != "parent_run_id" {
			t.Fatalf("repeat with a foreign parent: %d %s", r0.status, r0.body)
		}

		// Bad keys are refused and store nothing.
		r := b.c.do("POST", "/api/v1/events", map[string]any{"key": "k", "idempotency_key": "a\nb"})
		if _, field := r.errCodeField(t); r.status != 400 || field != "idempotency_key" {
			t.Fatalf("control character: %d %s", r.status, r.body)
		}
		r = b.c.do("POST", "/api/v1/events/bulk", map[string]any{"events": []any{map[string]any{"key": "k", "idempotency_key": string(make([]byte, 256))}}})
		if _, field := r.errCodeField(t); r.status != 400 || field != "events[0].idempotency_key" {
			t.Fatalf("long key: %d %s", r.status, r.body)
		}
	})
}

// TestIdempotentPushRace pushes the same key concurrently over separate connections (on
// PostgreSQL, to two replicas): exactly one event and run are stored, and every reply names
// that event.
func TestIdempotentPushRace(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("w", "k", "s"))
		urls := []string{b.c.url}
		if b.dbURL != "" {
			second := testenv.StartWith(t, testenv.Options{DatabaseURL: b.dbURL, Token: b.c.token})
			urls = append(urls, second.URL)
		}
		const n = 16
		type reply struct {
			status int
			body   map[string]any
		}
		replies := make([]reply, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A client of its own: its own connection.
				hc := &http.Client{Transport: &validatingTransport{t: t, base: &http.Transport{}}}
				defer hc.CloseIdleConnections()
				req, err := http.NewRequest("POST", urls[i%len(urls)]+"/api/v1/events", bytes.NewReader([]byte(`{"key":"k","idempotency_key":"race"}`)))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("Authorization", "Bearer "+b.c.token)
				req.Header.Set("Content-Type", "application/json")
				res, err := hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer res.Body.Close()
				var m map[string]any
				if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
					t.Error(err)
					return
				}
				replies[i] = reply{res.StatusCode, m}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		created := 0
		ids := map[any]bool{}
		for _, r := range replies {
			switch {
			case r.status == 201 && r.body["duplicate"] == false:
				created++
			case r.status == 200 && r.body["duplicate"] == true:
			default:
				t.Fatalf("reply %d %v", r.status, r.body)
			}
			ids[r.body["event"].(map[string]any)["id"]] = true
			if len(r.body["runs"].([]any)) != 1 {
				t.Fatalf("reply runs = %v, want the one run", r.body["runs"])
			}
		}
		if created != 1 || len(ids) != 1 {
			t.Fatalf("%d pushes created an event, replies name %d events; want 1 and 1", created, len(ids))
		}
		if n := len(items(b.c.must(200, "GET", "/api/v1/runs", nil))); n != 1 {
			t.Fatalf("%d runs stored, want 1", n)
		}
	})
}
