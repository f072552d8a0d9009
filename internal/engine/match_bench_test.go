package engine

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// benchIndex builds the index of item 9 of issue 5, scaled: n workflows of which half
// have one exact key, a tenth a wildcard pattern, a tenth a trigger with a CEL expression,
// and the rest an exact key gated by three runtime filters (one with an expression). With
// n = 10 every kind is present once or more.
func benchIndex(n int) *triggerIndex {
	var wfs []store.Workflow
	var filters []store.Filter
	steps := []store.StepDef{{Name: "s", TimeoutMS: 60000, Retry: store.RetryDef{MaxAttempts: 3}}}
	add := func(i int, trig store.Trigger) store.Workflow {
		wf := store.Workflow{ID: fmt.Sprintf("wf%05d", i), TenantID: "t", Name: fmt.Sprintf("w%05d", i), Active: true, Version: 1,
			Def: store.WorkflowDef{Triggers: []store.Trigger{trig}, Steps: steps}}
		wfs = append(wfs, wf)
		return wf
	}
	exact, wild, cel := n/2, n/10, n/10
	i := 0
	for ; i < exact; i++ {
		add(i, store.Trigger{Key: fmt.Sprintf("exact:%d", i)})
	}
	for ; i < exact+wild; i++ {
		add(i, store.Trigger{Key: fmt.Sprintf("wild%d:*", i)})
	}
	for ; i < exact+wild+cel; i++ {
		add(i, store.Trigger{Key: fmt.Sprintf("cel:%d", i), Expression: fmt.Sprintf("input.amount > %d && additional_metadata.tier == 'gold'", i%100)})
	}
	for ; i < n; i++ {
		wf := add(i, store.Trigger{Key: fmt.Sprintf("filtered:%d", i)})
		for j, scope := range []string{"acme", "globex", "initech"} {
			f := store.Filter{ID: fmt.Sprintf("f%05d-%d", i, j), TenantID: "t", WorkflowID: wf.ID, Workflow: wf.Name, Scope: scope}
			if j == 0 {
				f.Expression = "input.amount > 10"
				f.Payload = json.RawMessage(`{"tier":"gold"}`)
			}
			filters = append(filters, f)
		}
	}
	return buildIndex(wfs, filters, nil)
}

// BenchmarkMatchEvent measures matchEvent (the decision and the runs to create) for one
// event against 10 and 10,000 workflows, for events hitting a plain exact trigger, a
// wildcard pattern, a CEL trigger and a filtered workflow; and one no workflow matches.
func BenchmarkMatchEvent(b *testing.B) {
	payload := json.RawMessage(`{"amount":150,"customer":{"id":"c_1","country":"DE"},"items":[{"sku":"a","qty":2},{"sku":"b","qty":1}]}`)
	meta := json.RawMessage(`{"tier":"gold"}`)
	for _, n := range []int{10, 10_000} {
		ix := benchIndex(n)
		exact, wild, cel := n/2, n/10, n/10
		events := []struct {
			name, key, scope string
		}{
			{"exact", fmt.Sprintf("exact:%d", exact-1), ""},
			{"wildcard", fmt.Sprintf("wild%d:x", exact+wild-1), ""},
			{"cel", fmt.Sprintf("cel:%d", exact+wild+cel-1), ""},
			{"filter", fmt.Sprintf("filtered:%d", n-1), "acme"},
			{"none", "nothing:here", ""},
		}
		e := &Engine{}
		for _, evd := range events {
			b.Run(fmt.Sprintf("workflows=%d/%s", n, evd.name), func(b *testing.B) {
				at := time.Now()
				b.ReportAllocs()
				for b.Loop() {
					ev := &store.Event{ID: "e", TenantID: "t", Key: evd.key, Scope: evd.scope, Payload: payload, Metadata: meta}
					runs, _, _ := e.matchEvent(b.Context(), ix, ev, at, nil)
					if evd.name != "none" && len(runs) != 1 {
						b.Fatalf("%s: %d runs, want 1 (%+v)", evd.key, len(runs), ev.Triggers)
					}
				}
			})
		}
	}
}

// BenchmarkBuildIndex measures a rebuild of the 10,000-workflow index, reusing the
// previous index's compiled programs (what a filter change costs).
func BenchmarkBuildIndex(b *testing.B) {
	prev := benchIndex(10_000)
	wfs, filters := []store.Workflow{}, []store.Filter{}
	for _, w := range prev.tenants["t"].all {
		wfs = append(wfs, *w.wf)
		set := w.filterSet()
		if set == nil {
			continue
		}
		for _, fs := range set.byScope {
			for _, f := range fs {
				filters = append(filters, f.Filter)
			}
		}
	}
	for b.Loop() {
		buildIndex(wfs, filters, prev)
	}
}
