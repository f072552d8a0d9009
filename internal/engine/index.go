package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/heraldhq/herald/internal/store"
)

// triggerIndex maps (tenant, event key) to the workflows whose triggers match, so that
// matching an event is a few map lookups, never a scan of the store.
//
// Exact triggers live in a map keyed by the key. Patterns ("user:*", "*") live in a map
// keyed by their prefix (the pattern without its final "*"), together with the sorted,
// distinct prefix lengths of the tenant: matching a key looks up key[:n] for each such
// length n ≤ len(key), so its cost depends on the number of distinct prefix lengths, not
// on the number of patterns.
type triggerIndex struct {
	tenants map[string]*tenantIndex
}

// tenantIndex is one tenant's part of the trigger index.
type tenantIndex struct {
	exact    map[string][]*store.Workflow // key -> workflows
	prefixes map[string][]*store.Workflow // pattern prefix -> workflows
	lengths  []int                        // distinct lengths of the prefixes, ascending
	all      []*store.Workflow            // every workflow of the tenant, by name
}

func buildIndex(wfs []store.Workflow) *triggerIndex {
	ix := &triggerIndex{tenants: map[string]*tenantIndex{}}
	for i := range wfs {
		wf := &wfs[i]
		ti := ix.tenants[wf.TenantID]
		if ti == nil {
			ti = &tenantIndex{exact: map[string][]*store.Workflow{}, prefixes: map[string][]*store.Workflow{}}
			ix.tenants[wf.TenantID] = ti
		}
		ti.all = append(ti.all, wf)
		for _, t := range wf.Def.Triggers { // NormalizeWorkflow removed duplicates
			if prefix, ok := strings.CutSuffix(t, "*"); ok {
				if ti.prefixes[prefix] == nil {
					ti.lengths = append(ti.lengths, len(prefix))
				}
				ti.prefixes[prefix] = append(ti.prefixes[prefix], wf)
				continue
			}
			ti.exact[t] = append(ti.exact[t], wf)
		}
	}
	for _, ti := range ix.tenants {
		sort.Ints(ti.lengths)
		ti.lengths = dedupeInts(ti.lengths)
		sort.Slice(ti.all, func(a, b int) bool { return ti.all[a].Name < ti.all[b].Name })
	}
	return ix
}

func dedupeInts(s []int) []int {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// match returns the workflows of a tenant with a trigger matching key, each once even
// when several of its triggers match. With patterns involved the result is ordered by
// workflow name; with exact keys only, in index order.
func (ix *triggerIndex) match(tenantID, key string) []*store.Workflow {
	ti := ix.tenants[tenantID]
	if ti == nil {
		return nil
	}
	exact := ti.exact[key]
	if len(ti.lengths) == 0 {
		return exact
	}
	var out []*store.Workflow
	var seen map[*store.Workflow]bool
	add := func(wfs []*store.Workflow) {
		for _, wf := range wfs {
			if seen == nil {
				seen = map[*store.Workflow]bool{}
			}
			if !seen[wf] {
				seen[wf] = true
				out = append(out, wf)
			}
		}
	}
	add(exact)
	for _, n := range ti.lengths {
		if n > len(key) {
			break
		}
		add(ti.prefixes[key[:n]])
	}
	if len(out) > 1 {
		sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	}
	return out
}

// workflows returns every workflow of a tenant, ordered by name.
func (ix *triggerIndex) workflows(tenantID string) []*store.Workflow {
	if ti := ix.tenants[tenantID]; ti != nil {
		return ti.all
	}
	return nil
}

// TriggerMatches reports whether a trigger (an exact key or a pattern ending in "*")
// matches an event key.
func TriggerMatches(trigger, key string) bool {
	if prefix, ok := strings.CutSuffix(trigger, "*"); ok {
		return strings.HasPrefix(key, prefix)
	}
	return trigger == key
}

// RefreshIndex rebuilds the trigger index from the store. Unless force is set, it first
// checks the store's change mark and skips the rebuild when nothing changed.
func (e *Engine) RefreshIndex(ctx context.Context, force bool) error {
	e.indexMu.Lock()
	defer e.indexMu.Unlock()
	mark, err := e.store.WorkflowsChangeMark(ctx)
	if err != nil {
		return fmt.Errorf("reading workflow change mark: %w", err)
	}
	if !force && mark == e.indexMark {
		return nil
	}
	wfs, err := e.store.ListAllWorkflows(ctx)
	if err != nil {
		return fmt.Errorf("loading trigger index: %w", err)
	}
	e.index.Store(buildIndex(wfs))
	e.indexMark = mark
	return nil
}
