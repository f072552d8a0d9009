package api_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testenv"
)

func TestHealthzNeedsNoToken(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		r := b.c.with("").do("GET", "/healthz", nil)
		if r.status != 200 || r.json(t)["status"] != "ok" {
			t.Fatalf("healthz: %d %s", r.status, r.body)
		}
	})
}

func TestAuthentication(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		for name, tok := range map[string]string{"none": "", "wrong": "hrld_nope", "garbage": strings.Repeat("x", 300)} {
			r := b.c.with(tok).do("GET", "/api/v1/events", nil)
			if r.status != 401 {
				t.Fatalf("%s token: status %d, want 401", name, r.status)
			}
			if code, _ := r.errCodeField(t); code != "unauthenticated" {
				t.Fatalf("%s token: code %q", name, code)
			}
		}
		// A new token works until it is revoked, and is stored only as a hash.
		m := b.c.must(201, "POST", "/api/v1/tokens", map[string]any{"name": "ci"})
		secret := m["secret"].(string)
		id := m["token"].(map[string]any)["id"].(string)
		b.c.with(secret).must(200, "GET", "/api/v1/events", nil)
		// Neither the database file nor the PostgreSQL rows hold a secret in clear.
		var dump []byte
		if b.dbURL == "" {
			for _, f := range []string{"herald.db", "herald.db-wal"} {
				data, err := os.ReadFile(filepath.Join(b.env.DataDir, f))
				if err != nil {
					t.Fatal(err)
				}
				dump = append(dump, data...)
			}
		} else {
			out, err := exec.Command("pg_dump", "--data-only", b.dbURL).CombinedOutput()
			if err != nil {
				t.Fatalf("pg_dump: %v: %s", err, out)
			}
			if !bytes.Contains(out, []byte("api_tokens")) {
				t.Fatalf("pg_dump has no api_tokens: %s", out)
			}
			dump = out
		}
		if bytes.Contains(dump, []byte(secret)) || bytes.Contains(dump, []byte(b.env.Token)) {
			t.Fatal("the store holds a token secret in clear")
		}
		list := b.c.must(200, "GET", "/api/v1/tokens", nil)
		if strings.Contains(fmt.Sprint(list), secret) {
			t.Fatal("token list reveals a secret")
		}
		b.c.must(204, "DELETE", "/api/v1/tokens/"+id, nil)
		if r := b.c.with(secret).do("GET", "/api/v1/events", nil); r.status != 401 {
			t.Fatalf("revoked token: status %d, want 401", r.status)
		}
		// The admin token file is private.
		st, err := os.Stat(filepath.Join(b.env.DataDir, "token"))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("token file mode %v, want 0600", st.Mode().Perm())
		}
	})
}

func TestBroadcastStartsOneRunPerActiveWorkflow(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("welcome-user", "user:created", "send-welcome-email", "add-to-crm"))
		b.c.putWorkflow(simpleWorkflow("provision-account", "user:created", "provision"))
		b.c.putWorkflow(simpleWorkflow("other", "user:deleted", "x"))

		p := b.c.push("user:created", map[string]any{"user_id": "u1"})
		runs := runIDs(p)
		if len(runs) != 2 || runs["welcome-user"] == "" || runs["provision-account"] == "" {
			t.Fatalf("runs = %v, want one each of welcome-user and provision-account", runs)
		}
		ev := p["event"].(map[string]any)
		if ev["key"] != "user:created" || ev["source"] != "api" || len(ev["triggers"].([]any)) != 2 {
			t.Fatalf("event = %v", ev)
		}
		// The reply was sent after commit: the event and its runs are readable at once.
		got := b.c.must(200, "GET", "/api/v1/events/"+ev["id"].(string), nil)
		if n := len(got["runs"].([]any)); n != 2 {
			t.Fatalf("event shows %d runs, want 2", n)
		}
		r := b.c.run(runs["welcome-user"])
		if r["status"] != "queued" || r["event_id"] != ev["id"] || r["input"].(map[string]any)["user_id"] != "u1" {
			t.Fatalf("run = %v", r)
		}
		st := steps(r)
		if st["send-welcome-email"]["status"] != "queued" || st["add-to-crm"]["status"] != "pending" {
			t.Fatalf("steps = %v", st)
		}
		// A key nobody listens to is stored and triggers nothing.
		p = b.c.push("nobody:listens", nil)
		if len(p["runs"].([]any)) != 0 || len(p["event"].(map[string]any)["triggers"].([]any)) != 0 {
			t.Fatalf("unmatched push = %v", p)
		}
	})
}

func TestDisabledWorkflowIsSkippedAndRecorded(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("a", "k", "s"))
		b.c.putWorkflow(simpleWorkflow("b", "k", "s"))
		wf := b.c.must(200, "POST", "/api/v1/workflows/b/disable", nil)
		if wf["active"] != false {
			t.Fatalf("disable: %v", wf)
		}
		p := b.c.push("k", nil)
		if runs := runIDs(p); len(runs) != 1 || runs["a"] == "" {
			t.Fatalf("runs = %v, want only a", runs)
		}
		var skipped bool
		for _, tr := range p["event"].(map[string]any)["triggers"].([]any) {
			m := tr.(map[string]any)
			if m["workflow"] == "b" {
				skipped = m["skipped"] == "disabled" && m["run_id"] == nil
			}
		}
		if !skipped {
			t.Fatalf("event does not record b as skipped: %v", p["event"])
		}
		b.c.must(200, "POST", "/api/v1/workflows/b/enable", nil)
		if runs := runIDs(b.c.push("k", nil)); len(runs) != 2 {
			t.Fatalf("after enable runs = %v, want 2", runs)
		}
		if r := b.c.do("POST", "/api/v1/workflows/nope/disable", nil); r.status != 404 {
			t.Fatalf("disable unknown: %d", r.status)
		}
	})
}

func TestBadInputIsRefusedAndStoresNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("w", "k", "s"))
		cases := []struct {
			name, body, code, field string
		}{
			{"no key", `{"payload":{}}`, "invalid_argument", "key"},
			{"empty key", `{"key":""}`, "invalid_argument", "key"},
			{"long key", `{"key":"` + strings.Repeat("a", 256) + `"}`, "invalid_argument", "key"},
			{"bad char", `{"key":"user created"}`, "invalid_argument", "key"},
			{"unicode", `{"key":"usér"}`, "invalid_argument", "key"},
			{"payload array", `{"key":"k","payload":[1,2]}`, "invalid_argument", "payload"},
			{"payload string", `{"key":"k","payload":"x"}`, "invalid_argument", "payload"},
			{"metadata nested", `{"key":"k","additional_metadata":{"a":{"b":1}}}`, "invalid_argument", "additional_metadata.a"},
			{"malformed", `{"key":"k",`, "malformed_json", ""},
			{"not an object", `[1]`, "invalid_argument", ""},
			{"empty body", ``, "malformed_json", ""},
			{"unknown field", `{"key":"k","paylod":{}}`, "invalid_argument", "paylod"},
			{"trailing data", `{"key":"k"} {}`, "malformed_json", ""},
			{"wrong type", `{"key":7}`, "invalid_argument", "key"},
			{"foreign parent", `{"key":"k","parent_run_id":"01a209bb-8530-7625-b8ad-d65d5b3e4ff7"}`, "invalid_argument", "parent_run_id"},
		}
		for _, tc := range cases {
			r := b.c.do("POST", "/api/v1/events", tc.body)
			if r.status != 400 {
				t.Fatalf("%s: status %d, want 400: %s", tc.name, r.status, r.body)
			}
			code, field := r.errCodeField(t)
			if code != tc.code || field != tc.field {
				t.Fatalf("%s: code %q field %q, want %q %q: %s", tc.name, code, field, tc.code, tc.field, r.body)
			}
		}
		if n := len(items(b.c.must(200, "GET", "/api/v1/events", nil))); n != 0 {
			t.Fatalf("%d events stored after bad input", n)
		}
		if n := len(items(b.c.must(200, "GET", "/api/v1/runs", nil))); n != 0 {
			t.Fatalf("%d runs stored after bad input", n)
		}
		// Allowed characters pass.
		b.c.push("Stripe:payment_intent.succeeded/v1-x", nil)
		// Unknown endpoints answer JSON 404.
		if r := b.c.do("GET", "/api/v1/nope", nil); r.status != 404 {
			t.Fatalf("unknown endpoint: %d", r.status)
		}
	})
}

func TestBodyOverLimitIs413(t *testing.T) {
	t.Parallel()
	env := testenv.StartWith(t, testenv.Options{MaxEventBytes: 2048})
	c := &client{t: t, url: env.URL, token: env.Token}
	big := map[string]any{"blob": strings.Repeat("x", 4096)}
	r := c.do("POST", "/api/v1/events", map[string]any{"key": "k", "payload": big})
	if r.status != 413 {
		t.Fatalf("status %d, want 413: %s", r.status, r.body)
	}
	if code, _ := r.errCodeField(t); code != "payload_too_large" {
		t.Fatalf("code %q", code)
	}
	r = c.do("POST", "/api/v1/events/bulk", map[string]any{"events": []any{
		map[string]any{"key": "k"}, map[string]any{"key": "k", "payload": big},
	}})
	if r.status != 413 {
		t.Fatalf("bulk: status %d, want 413: %s", r.status, r.body)
	}
	if _, field := r.errCodeField(t); field != "events[1].payload" {
		t.Fatalf("bulk field %q", field)
	}
	if n := len(items(c.must(200, "GET", "/api/v1/events", nil))); n != 0 {
		t.Fatalf("%d events stored", n)
	}
}

func TestBulkIsAllOrNothingAndOrdered(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("w", "a", "s"))
		r := b.c.do("POST", "/api/v1/events/bulk", map[string]any{"events": []any{
			map[string]any{"key": "a"}, map[string]any{"key": "bad key"}, map[string]any{"key": "a"},
		}})
		if r.status != 400 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if _, field := r.errCodeField(t); field != "events[1].key" {
			t.Fatalf("field %q", field)
		}
		if n := len(items(b.c.must(200, "GET", "/api/v1/events", nil))); n != 0 {
			t.Fatalf("%d events stored after a refused bulk", n)
		}
		var evs []any
		for i := 0; i < 5; i++ {
			key := "b"
			if i%2 == 0 {
				key = "a"
			}
			evs = append(evs, map[string]any{"key": key, "payload": map[string]any{"i": i}})
		}
		m := b.c.must(201, "POST", "/api/v1/events/bulk", map[string]any{"events": evs})
		its := items(m)
		if len(its) != 5 {
			t.Fatalf("%d items", len(its))
		}
		for i, it := range its {
			ev := it["event"].(map[string]any)
			if ev["payload"].(map[string]any)["i"].(float64) != float64(i) {
				t.Fatalf("item %d out of order: %v", i, ev)
			}
			wantRuns := 0
			if i%2 == 0 {
				wantRuns = 1
			}
			if n := len(it["runs"].([]any)); n != wantRuns {
				t.Fatalf("item %d has %d runs, want %d", i, n, wantRuns)
			}
		}
		tooMany := make([]any, 1001)
		for i := range tooMany {
			tooMany[i] = map[string]any{"key": "a"}
		}
		if r := b.c.do("POST", "/api/v1/events/bulk", map[string]any{"events": tooMany}); r.status != 400 {
			t.Fatalf("1001 events: status %d", r.status)
		}
		if r := b.c.do("POST", "/api/v1/events/bulk", map[string]any{"events": []any{}}); r.status != 400 {
			t.Fatalf("0 events: status %d", r.status)
		}
	})
}

func TestWorkflowValidation(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		cases := []struct {
			name  string
			def   map[string]any
			field string
		}{
			{"no steps", map[string]any{"name": "w", "triggers": []string{"k"}, "steps": []any{}}, "steps"},
			{"unknown parent", map[string]any{"name": "w", "steps": []any{map[string]any{"name": "a", "parents": []string{"zz"}}}}, "steps[0].parents[0]"},
			{"cycle", map[string]any{"name": "w", "steps": []any{
				map[string]any{"name": "a", "parents": []string{"b"}}, map[string]any{"name": "b", "parents": []string{"a"}}}}, "steps"},
			{"duplicate step", map[string]any{"name": "w", "steps": []any{map[string]any{"name": "a"}, map[string]any{"name": "a"}}}, "steps[1].name"},
			{"bad trigger", map[string]any{"name": "w", "triggers": []string{"a b"}, "steps": []any{map[string]any{"name": "a"}}}, "triggers[0]"},
			{"bad timeout", map[string]any{"name": "w", "steps": []any{map[string]any{"name": "a", "timeout": "10ms"}}}, "steps[0].timeout"},
			{"bad duration", map[string]any{"name": "w", "steps": []any{map[string]any{"name": "a", "timeout": "soon"}}}, ""},
			{"bad attempts", map[string]any{"name": "w", "steps": []any{map[string]any{"name": "a", "retry": map[string]any{"max_attempts": 1000}}}}, "steps[0].retry.max_attempts"},
		}
		for _, tc := range cases {
			r := b.c.do("PUT", "/api/v1/workflows/w", tc.def)
			if r.status != 400 {
				t.Fatalf("%s: status %d: %s", tc.name, r.status, r.body)
			}
			if _, field := r.errCodeField(t); tc.field != "" && field != tc.field {
				t.Fatalf("%s: field %q, want %q", tc.name, field, tc.field)
			}
		}
		if r := b.c.do("GET", "/api/v1/workflows/w", nil); r.status != 404 {
			t.Fatalf("refused workflow was stored: %d", r.status)
		}
	})
}

func TestWorkflowVersionsAndRunsKeepTheirVersion(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("w", "k", "one"))
		m := b.c.must(200, "PUT", "/api/v1/workflows/w", simpleWorkflow("w", "k", "one"))
		if m["created_version"] != false || m["workflow"].(map[string]any)["version"].(float64) != 1 {
			t.Fatalf("identical put: %v", m)
		}
		old := runIDs(b.c.push("k", nil))["w"]
		m = b.c.must(200, "PUT", "/api/v1/workflows/w", simpleWorkflow("w", "k", "one", "two"))
		if m["created_version"] != true || m["workflow"].(map[string]any)["version"].(float64) != 2 {
			t.Fatalf("changed put: %v", m)
		}
		p := b.c.push("k", nil)
		if v := p["runs"].([]any)[0].(map[string]any)["version"].(float64); v != 2 {
			t.Fatalf("new run version %v, want 2", v)
		}
		r := b.c.run(old)
		if r["version"].(float64) != 1 || len(r["steps"].([]any)) != 1 {
			t.Fatalf("old run changed: %v", r)
		}
		v1 := b.c.must(200, "GET", "/api/v1/workflows/w?version=1", nil)
		if len(v1["steps"].([]any)) != 1 {
			t.Fatalf("version 1 = %v", v1)
		}
		// The worker gets the old run's single step and finishes it; the old run succeeds
		// under version 1's definition.
		w := b.c.registerWorker("w")
		a := b.c.pollOne(w)
		if a["run_id"] != old || a["version"].(float64) != 1 {
			t.Fatalf("first assignment %v, want the version-1 run first (FIFO)", a)
		}
		b.c.must(200, "POST", fmt.Sprintf("/api/v1/workers/%s/step-runs/%s/complete", w, a["step_run_id"]), map[string]any{"lease_id": a["lease_id"]})
		b.c.waitRun(old, "succeeded")
	})
}

func TestPaginationAndFilters(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("w1", "k1", "s"))
		b.c.putWorkflow(simpleWorkflow("w2", "k2", "s"))
		var ids []string
		for i := 0; i < 7; i++ {
			ids = append(ids, b.c.push("k1", map[string]any{"i": i})["event"].(map[string]any)["id"].(string))
		}
		ev2 := b.c.push("k2", nil)
		seen := map[string]bool{}
		cursor, pages := "", 0
		for {
			m := b.c.must(200, "GET", "/api/v1/events?key=k1&limit=3&cursor="+cursor, nil)
			pages++
			for _, it := range items(m) {
				if seen[it["id"].(string)] {
					t.Fatalf("event %s on two pages", it["id"])
				}
				seen[it["id"].(string)] = true
			}
			c, ok := m["next_cursor"].(string)
			if !ok {
				break
			}
			cursor = c
		}
		if pages != 3 || len(seen) != 7 {
			t.Fatalf("pages %d, events %d; want 3 pages of 7 events", pages, len(seen))
		}
		first := items(b.c.must(200, "GET", "/api/v1/events?limit=1", nil))[0]
		if first["id"] != ev2["event"].(map[string]any)["id"] {
			t.Fatalf("newest first: got %v", first["id"])
		}
		if n := len(items(b.c.must(200, "GET", "/api/v1/runs?workflow=w2", nil))); n != 1 {
			t.Fatalf("runs of w2: %d", n)
		}
		if n := len(items(b.c.must(200, "GET", "/api/v1/runs?event_id="+ids[3], nil))); n != 1 {
			t.Fatalf("runs of event: %d", n)
		}
		if n := len(items(b.c.must(200, "GET", "/api/v1/runs?status=queued&limit=500", nil))); n != 8 {
			t.Fatalf("queued runs: %d", n)
		}
		if r := b.c.do("GET", "/api/v1/runs?status=nope", nil); r.status != 400 {
			t.Fatalf("bad status filter: %d", r.status)
		}
		if r := b.c.do("GET", "/api/v1/events?cursor=***", nil); r.status != 400 {
			t.Fatalf("bad cursor: %d", r.status)
		}
		// Well-formed base64, but not of an id: no cursor this API handed out.
		for _, path := range []string{"/api/v1/events?cursor=", "/api/v1/runs?cursor="} {
			if r := b.c.do("GET", path+base64.RawURLEncoding.EncodeToString([]byte("zzz")), nil); r.status != 400 {
				t.Fatalf("%s of a non-id: %d", path, r.status)
			}
		}
		if r := b.c.do("GET", "/api/v1/events?limit=0", nil); r.status != 400 {
			t.Fatalf("bad limit: %d", r.status)
		}
	})
}

func TestManualRun(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		b.c.putWorkflow(simpleWorkflow("w", "k", "s"))
		b.c.must(200, "POST", "/api/v1/workflows/w/disable", nil)
		m := b.c.must(201, "POST", "/api/v1/workflows/w/runs", map[string]any{"input": map[string]any{"debug": true}})
		r := b.c.run(m["run_id"].(string))
		if r["event_id"] != nil || r["input"].(map[string]any)["debug"] != true || r["workflow"] != "w" {
			t.Fatalf("manual run = %v", r)
		}
		if r := b.c.do("POST", "/api/v1/workflows/w/runs", map[string]any{"input": []int{1}}); r.status != 400 {
			t.Fatalf("array input: %d", r.status)
		}
		if r := b.c.do("POST", "/api/v1/workflows/nope/runs", nil); r.status != 404 {
			t.Fatalf("unknown workflow: %d", r.status)
		}
	})
}
