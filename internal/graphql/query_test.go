package graphql_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestQueries: what a caller wants after a send: the event with its triggers (started,
// or skipped and why) and runs, a run with its steps, listings with the REST filters and
// cursor paging, the workflows, and a dry run that stores nothing.
func TestQueries(t *testing.T) {
	forEachStore(t, func(t *testing.T, b *bundle) {
		c := b.c
		c.putWorkflow(map[string]any{"name": "reorder-stock", "triggers": []string{"inventory:low_stock_alert"},
			"steps": []map[string]any{{"name": "check"}, {"name": "order", "parents": []string{"check"}}}})
		c.putWorkflow(workflow("notify-buyer", "inventory:*"))
		c.putWorkflow(workflow("audit", "inventory:low_stock_alert"))
		c.must(200, "POST", "/api/v1/workflows/audit/disable", nil)

		var ids []string
		for i, op := range []string{"low_stock_alert", "item_expired", "low_stock_alert"} {
			vars := map[string]any{"input": map[string]any{"type": "inventory", "operation": op,
				"payload":  map[string]any{"id": fmt.Sprintf("sku-%d", i)},
				"metadata": map[string]any{"region": []string{"eu", "us", "eu"}[i], "n": i}}}
			ids = append(ids, str(t, c.ok(sendFull, vars), "sendCustomEvent", "eventID"))
		}
		c.must(201, "POST", "/api/v1/events", map[string]any{"key": "order:created"})

		// event(id): its triggers and runs, each run with its steps and back to its event.
		d := c.ok(`query($id: ID!) { event(id: $id) {
			id key status source
			triggers { workflow version started runID skipped }
			runs { id workflow status input steps { name parents status attempt maxAttempts } event { id } }
		} }`, map[string]any{"id": ids[0]})
		ev := obj(t, d, "event")
		if ev["key"] != "inventory:low_stock_alert" || ev["status"] != "delivered" || ev["source"] != "api" {
			t.Fatalf("event %v", ev)
		}
		trig := map[string]map[string]any{}
		for _, x := range list(t, ev, "triggers") {
			trig[str(t, x, "workflow")] = x.(map[string]any)
		}
		if trig["reorder-stock"]["started"] != true || trig["reorder-stock"]["runID"] == nil ||
			trig["audit"]["started"] != false || trig["audit"]["skipped"] != "disabled" || trig["audit"]["runID"] != nil {
			t.Fatalf("triggers %v", trig)
		}
		runs := list(t, ev, "runs")
		if len(runs) != 2 {
			t.Fatalf("runs %v", runs)
		}
		for _, r := range runs {
			if str(t, r, "event", "id") != ids[0] || !jsonEq(t, dig(t, r, "input"), `{"id":"sku-0","data":{}}`) {
				t.Fatalf("run %v", r)
			}
			if str(t, r, "workflow") == "reorder-stock" {
				steps := list(t, r, "steps")
				if len(steps) != 2 || str(t, steps[0], "name") != "check" || str(t, steps[0], "status") != "queued" ||
					str(t, steps[1], "status") != "pending" || str(t, steps[1], "parents", 0) != "check" {
					t.Fatalf("steps %v", steps)
				}
			}
		}
		runID := str(t, trig["reorder-stock"], "runID")

		// run(id) with its steps, as GET /api/v1/runs/{id}.
		r := obj(t, c.ok(fmt.Sprintf(`{ run(id: %q) { id workflow version status eventID steps { id name status } } }`, runID), nil), "run")
		rest := c.must(200, "GET", "/api/v1/runs/"+runID, nil)
		if r["workflow"] != rest["workflow"] || r["status"] != rest["status"] || r["eventID"] != ids[0] ||
			len(list(t, r, "steps")) != len(rest["steps"].([]any)) || str(t, r, "steps", 0, "id") != str(t, rest, "steps", 0, "id") {
			t.Fatalf("run %v vs REST %v", r, rest)
		}

		// events: filters, newest first, and cursor paging.
		keys := func(q string) []string {
			t.Helper()
			var out []string
			for _, e := range list(t, c.ok(q, nil), "events", "items") {
				out = append(out, str(t, e, "id"))
			}
			return out
		}
		if got := keys(`{ events(key: "inventory:low_stock_alert") { items { id } } }`); fmt.Sprint(got) != fmt.Sprint([]string{ids[2], ids[0]}) {
			t.Fatalf("by key: %v", got)
		}
		if got := keys(`{ events(keyPrefix: "inventory:") { items { id } } }`); len(got) != 3 {
			t.Fatalf("by prefix: %v", got)
		}
		if got := keys(`{ events(metadata: {region: "eu", n: 2}) { items { id } } }`); fmt.Sprint(got) != fmt.Sprint([]string{ids[2]}) {
			t.Fatalf("by metadata: %v", got)
		}
		if got := keys(`{ events(workflow: "reorder-stock") { items { id } } }`); len(got) != 2 {
			t.Fatalf("by workflow: %v", got)
		}
		if got := keys(fmt.Sprintf(`{ events(since: %q) { items { id } } }`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))); len(got) != 0 {
			t.Fatalf("since an hour ahead: %v", got)
		}
		var paged []string
		cursor := ""
		for page := 0; ; page++ {
			if page > 5 {
				t.Fatal("paging does not end")
			}
			d := c.ok(`query($c: String) { events(limit: 1, cursor: $c) { items { id } nextCursor } }`, map[string]any{"c": cursor})
			items := list(t, d, "events", "items")
			if len(items) != 1 {
				t.Fatalf("page %d: %v", page, d)
			}
			paged = append(paged, str(t, items[0], "id"))
			next, _ := dig(t, d, "events", "nextCursor").(string)
			if next == "" {
				break
			}
			cursor = next
		}
		restIDs := []string{}
		for _, e := range c.must(200, "GET", "/api/v1/events", nil)["items"].([]any) {
			restIDs = append(restIDs, str(t, e, "id"))
		}
		if fmt.Sprint(paged) != fmt.Sprint(restIDs) || len(paged) != 4 {
			t.Fatalf("paged %v, REST %v", paged, restIDs)
		}

		// runs: filters and paging.
		rq := func(q string) []any {
			t.Helper()
			return list(t, c.ok(q, nil), "runs", "items")
		}
		if n := len(rq(`{ runs(workflow: "notify-buyer") { items { id } } }`)); n != 3 {
			t.Fatalf("notify-buyer runs: %d", n)
		}
		if n := len(rq(fmt.Sprintf(`{ runs(eventID: %q, status: "queued") { items { id } } }`, ids[1]))); n != 1 {
			t.Fatalf("runs of the second event: %d", n)
		}
		if n := len(rq(`{ runs(metadata: {region: "us"}) { items { id } } }`)); n != 1 {
			t.Fatalf("runs by metadata: %d", n)
		}
		var pagedRuns []string
		for cursor, page := "", 0; ; page++ {
			d := c.ok(`query($c: String) { runs(limit: 2, cursor: $c) { items { id } nextCursor } }`, map[string]any{"c": cursor})
			for _, r := range list(t, d, "runs", "items") {
				pagedRuns = append(pagedRuns, str(t, r, "id"))
			}
			next, _ := dig(t, d, "runs", "nextCursor").(string)
			if next == "" || page > 5 {
				break
			}
			cursor = next
		}
		restRuns := []string{}
		for _, r := range c.must(200, "GET", "/api/v1/runs", nil)["items"].([]any) {
			restRuns = append(restRuns, str(t, r, "id"))
		}
		if fmt.Sprint(pagedRuns) != fmt.Sprint(restRuns) || len(pagedRuns) != 5 {
			t.Fatalf("paged runs %v, REST %v", pagedRuns, restRuns)
		}

		// Bad filters name the argument, as REST does.
		for q, field := range map[string]string{
			`{ events(limit: 0) { items { id } } }`:                                                     "limit",
			`{ events(limit: 501) { items { id } } }`:                                                   "limit",
			`{ events(cursor: "nope") { items { id } } }`:                                               "cursor",
			`{ events(key: "a b") { items { id } } }`:                                                   "key",
			`{ events(status: "lost") { items { id } } }`:                                               "status",
			`{ events(metadata: {a: {b: 1}}) { items { id } } }`:                                        "metadata.a",
			`{ runs(status: "done") { items { id } } }`:                                                 "status",
			`{ events(status: "scheduled", workflow: "x") { items { id } } }`:                           "workflow",
			`{ events(since: "2026-01-02T00:00:00Z", until: "2026-01-01T00:00:00Z") { items { id } } }`: "until",
			`{ events(workflow: "a b") { items { id } } }`:                                              "workflow",
			`{ runs(workflow: "a b") { items { id } } }`:                                                "workflow",
			`{ runs(eventID: "nope") { items { id } } }`:                                                "eventID",
			`{ events(metadata: {a: "` + strings.Repeat("x", 1025) + `"}) { items { id } } }`:           "metadata.a",
			`{ runs(metadata: {` + manyMetadata(21) + `}) { items { id } } }`:                           "metadata",
		} {
			e := c.gql(q, nil).only(t)
			if e.code() != "INVALID_ARGUMENT" || e.field() != field {
				t.Errorf("%s: %v, want INVALID_ARGUMENT on %s", q, e, field)
			}
		}

		// workflows and workflow.
		wfs := list(t, c.ok(`{ workflows { name active version triggers { key } steps { name parents timeout maxAttempts } } }`, nil), "workflows")
		if len(wfs) != 3 || str(t, wfs, 0, "name") != "audit" || dig(t, wfs, 0, "active") != false {
			t.Fatalf("workflows %v", wfs)
		}
		w := obj(t, c.ok(`{ workflow(name: "reorder-stock") { name steps { name parents timeout } } }`, nil), "workflow")
		if str(t, w, "steps", 1, "parents", 0) != "check" || str(t, w, "steps", 0, "timeout") != "1m0s" {
			t.Fatalf("workflow %v", w)
		}

		// explainCustomEvent: what a send would do, storing nothing.
		evs, nruns := counts(t, c)
		x := obj(t, c.ok(`query($input: SendCustomEventInput!) { explainCustomEvent(input: $input) {
			key duplicateOf workflows { workflow trigger reason matchedTriggers } } }`, lowStock("sku-x", nil)), "explainCustomEvent")
		decided := map[string]any{}
		for _, d := range list(t, x, "workflows") {
			decided[str(t, d, "workflow")] = dig(t, d, "reason")
		}
		if x["key"] != "inventory:low_stock_alert" || decided["reorder-stock"] != nil || decided["audit"] != "disabled" || len(decided) != 3 {
			t.Fatalf("explanation %v", x)
		}
		if e2, r2 := counts(t, c); e2 != evs || r2 != nruns {
			t.Fatalf("explain stored something: %d/%d events, %d/%d runs", e2, evs, r2, nruns)
		}
	})
}

// manyMetadata is a metadata filter object of n names.
func manyMetadata(n int) string {
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, fmt.Sprintf("m%d: \"v\"", i))
	}
	return strings.Join(parts, ", ")
}
