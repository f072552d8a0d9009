package api_test

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestNULIsRefusedAlike: PostgreSQL cannot store U+0000 (nor invalid UTF-8) in JSON or
// text, so a payload, metadata, step output or worker name holding it is refused with 400
// and the field on every store (before, it
// failed on PostgreSQL with 500, and a step output failed every completion committed
// with it). A text holding the six characters \u0000 is fine. A failure message is never
// refused: one holding U+0000, or cut inside a character at the size limit, is stored
// cleaned.
func TestNULIsRefusedAlike(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(simpleWorkflow("w", "k", "s"))
		refused := []struct {
			path  string
			body  map[string]any
			field string
		}{
			{"/api/v1/events", map[string]any{"key": "k", "payload": map[string]any{"a": "x\x00y"}}, "payload"},
			{"/api/v1/events", map[string]any{"key": "k", "payload": map[string]any{"a\x00": 1}}, "payload"},
			{"/api/v1/events", map[string]any{"key": "k", "additional_metadata": map[string]any{"a": "\x00"}}, "additional_metadata"},
			{"/api/v1/events/bulk", map[string]any{"events": []any{map[string]any{"key": "k"}, map[string]any{"key": "k", "payload": map[string]any{"a": "\x00"}}}}, "events[1].payload"},
		}
		for _, tc := range refused {
			r := c.do("POST", tc.path, tc.body)
			if _, field := r.errCodeField(t); r.status != 400 || field != tc.field {
				t.Errorf("POST %s %v: status %d field %q, want 400 %q: %s", tc.path, tc.body, r.status, field, tc.field, r.body)
			}
		}
		// Invalid UTF-8 (PostgreSQL refuses it too), sent as raw bytes.
		r := c.do("POST", "/api/v1/events", []byte("{\"key\":\"k\",\"payload\":{\"a\":\"\xff\"}}"))
		if _, field := r.errCodeField(t); r.status != 400 || field != "payload" {
			t.Errorf("a payload with invalid UTF-8: status %d field %q, want 400 payload: %s", r.status, field, r.body)
		}
		if n := len(items(c.must(200, "GET", "/api/v1/events", nil))); n != 0 {
			t.Fatalf("%d events stored by refused pushes", n)
		}
		r = c.do("POST", "/api/v1/workers", map[string]any{"name": "host\x00a", "workflows": []string{"w"}})
		if _, field := r.errCodeField(t); r.status != 400 || field != "name" {
			t.Errorf("a worker named with U+0000: status %d field %q, want 400 name: %s", r.status, field, r.body)
		}
		ok := c.push("k", map[string]any{"a": `\u0000`})
		run := runIDs(ok)["w"]

		worker := c.registerWorker("w")
		a := c.pollOne(worker)
		r = c.complete(worker, a, map[string]any{"out": "\x00"})
		if _, field := r.errCodeField(t); r.status != 400 || field != "output" {
			t.Fatalf("complete with U+0000: status %d field %q, want 400 output: %s", r.status, field, r.body)
		}
		msg := strings.Repeat("a", 8191) + "é" + "\x00"
		if r := c.fail(worker, a, msg, false); r.status != 200 {
			t.Fatalf("fail with U+0000 and a long message: status %d: %s", r.status, r.body)
		}
		got := steps(c.waitRun(run, "failed"))["s"]
		stored, _ := got["error"].(string)
		if len(stored) > 8192 || !utf8.ValidString(stored) || strings.Contains(stored, "\x00") || !strings.HasPrefix(stored, "aaaa") {
			t.Errorf("stored failure message: %d bytes, valid UTF-8 %v, starts %.10q", len(stored), utf8.ValidString(stored), stored)
		}
	})
}
