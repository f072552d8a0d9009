package engine

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/store"
)

// triggerIndex maps (tenant, event key) to the workflows whose triggers match, so that
// matching an event is a few map lookups, never a scan of the store. It also holds every
// trigger and filter expression compiled, and each workflow's filters by scope, so that
// deciding what an event does reads nothing from the store and compiles nothing.
//
// Exact triggers live in a map keyed by the key. Patterns ("user:*", "*") live in a map
// keyed by their prefix (the pattern without its final "*"), together with the sorted,
// distinct prefix lengths of the tenant: matching a key looks up key[:n] for each such
// length n ≤ len(key), so its cost depends on the number of distinct prefix lengths, not
// on the number of patterns.
//
// An index is immutable once built, but for each workflow's filter set, which is swapped
// atomically (copy on write) when a filter is created or deleted through this engine, so
// that a filter change costs a copy of one workflow's filters instead of a rebuild. Any
// other change builds a new index (reusing the compiled programs of the old one by
// expression text) and swaps it in.
type triggerIndex struct {
	tenants map[string]*tenantIndex
	// progs holds every expression of the index compiled, by its text.
	progs map[string]*program
}

// tenantIndex is one tenant's part of the trigger index.
type tenantIndex struct {
	exact    map[string][]wfMatch // key -> workflows with the triggers of that key
	prefixes map[string][]wfMatch // pattern prefix -> workflows with the patterns of that prefix
	lengths  []int                // distinct lengths of the prefixes, ascending
	all      []*indexedWorkflow   // every workflow of the tenant, by name
	byName   map[string]*indexedWorkflow
}

// indexedWorkflow is a workflow with its triggers' and filters' programs.
type indexedWorkflow struct {
	wf       *store.Workflow
	triggers []indexedTrigger // in definition order
	// filters holds the workflow's runtime filters (nil: none).
	filters atomic.Pointer[filterSet]
}

// filterSet is a workflow's runtime filters by scope, each scope's oldest first. It is
// never modified once published; a change publishes a new one.
type filterSet struct {
	byScope map[string][]*indexedFilter
}

// filterSet returns the workflow's filters, or nil when it has none.
func (w *indexedWorkflow) filterSet() *filterSet {
	fs := w.filters.Load()
	if fs == nil || len(fs.byScope) == 0 {
		return nil
	}
	return fs
}

// with returns a copy of fs (which may be nil) with f added (keeping each scope's filters
// oldest first; a filter of f's id already there is replaced), or, when remove is set,
// without the filter of f's id.
func (fs *filterSet) with(f *indexedFilter, remove bool) *filterSet {
	out := &filterSet{byScope: map[string][]*indexedFilter{}}
	if fs != nil {
		for scope, l := range fs.byScope {
			for _, g := range l {
				if g.ID == f.ID { // removed, or already there (a rebuild saw it first)
					continue
				}
				out.byScope[scope] = append(out.byScope[scope], g)
			}
			if len(out.byScope[scope]) == 0 {
				delete(out.byScope, scope)
			}
		}
	}
	if !remove {
		l := append(out.byScope[f.Scope], f)
		sort.Slice(l, func(a, b int) bool { return l[a].ID < l[b].ID })
		out.byScope[f.Scope] = l
	}
	return out
}

// indexedTrigger is a trigger with its compiled expression (nil without one).
type indexedTrigger struct {
	store.Trigger
	prog *program
}

// indexedFilter is a runtime filter with its compiled expression (nil without one).
type indexedFilter struct {
	store.Filter
	prog *program
}

// wfMatch is a workflow and the positions of its triggers that match a key.
type wfMatch struct {
	w     *indexedWorkflow
	trigs []int
}

// buildIndex indexes the workflows and their filters. Expressions already compiled in
// prev (which may be nil) are reused.
func buildIndex(wfs []store.Workflow, filters []store.Filter, prev *triggerIndex) *triggerIndex {
	ix := &triggerIndex{tenants: map[string]*tenantIndex{}, progs: map[string]*program{}}
	compile := func(expr string) *program {
		if expr == "" {
			return nil
		}
		if p := ix.progs[expr]; p != nil {
			return p
		}
		p := (*program)(nil)
		if prev != nil {
			p = prev.progs[expr]
		}
		if p == nil {
			prog, err := compileExpr(expr)
			p = &program{prog: prog}
			if err != nil {
				p = &program{err: "the stored expression does not compile: " + err.Error()}
			}
		}
		ix.progs[expr] = p
		return p
	}
	byID := make(map[string]*indexedWorkflow, len(wfs))
	for i := range wfs {
		wf := &wfs[i]
		ti := ix.tenants[wf.TenantID]
		if ti == nil {
			ti = &tenantIndex{exact: map[string][]wfMatch{}, prefixes: map[string][]wfMatch{}, byName: map[string]*indexedWorkflow{}}
			ix.tenants[wf.TenantID] = ti
		}
		w := &indexedWorkflow{wf: wf, triggers: make([]indexedTrigger, len(wf.Def.Triggers))}
		byID[wf.ID] = w
		for j, t := range wf.Def.Triggers { // NormalizeWorkflow removed duplicates
			w.triggers[j] = indexedTrigger{Trigger: t, prog: compile(t.Expression)}
		}
		ti.add(w)
	}
	sets := map[*indexedWorkflow]*filterSet{}
	for _, f := range filters {
		w := byID[f.WorkflowID]
		if w == nil || w.wf.TenantID != f.TenantID {
			continue
		}
		fs := sets[w]
		if fs == nil {
			fs = &filterSet{byScope: map[string][]*indexedFilter{}}
			sets[w] = fs
		}
		fs.byScope[f.Scope] = append(fs.byScope[f.Scope], &indexedFilter{Filter: f, prog: compile(f.Expression)})
	}
	for _, ti := range ix.tenants {
		ti.finish()
		sort.Slice(ti.all, func(a, b int) bool { return ti.all[a].wf.Name < ti.all[b].wf.Name })
	}
	for w, set := range sets {
		for _, fs := range set.byScope {
			sort.Slice(fs, func(a, b int) bool { return fs[a].ID < fs[b].ID })
		}
		w.filters.Store(set)
	}
	return ix
}

// program returns the compiled program of an expression: the index's when it has one,
// else a new one (not added to the index, which is read concurrently; the next rebuild
// compiles it once).
func (ix *triggerIndex) program(expr string) *program {
	if expr == "" {
		return nil
	}
	if p := ix.progs[expr]; p != nil {
		return p
	}
	prog, err := compileExpr(expr)
	if err != nil {
		return &program{err: "the stored expression does not compile: " + err.Error()}
	}
	return &program{prog: prog}
}

// changeFilter applies a filter created (or, with remove, deleted) through this engine to
// the current index, without a rebuild: the workflow's filter set is replaced. It reports
// false when the index does not know the workflow (then the caller rebuilds). Other
// replicas, and this one at its next check of the change mark, rebuild from the store.
func (e *Engine) changeFilter(f store.Filter, remove bool) bool {
	e.indexMu.Lock()
	defer e.indexMu.Unlock()
	ix := e.index.Load()
	ti := ix.tenants[f.TenantID]
	if ti == nil {
		return false
	}
	w := ti.byName[f.Workflow]
	if w == nil || (f.WorkflowID != "" && w.wf.ID != f.WorkflowID) {
		return false
	}
	w.filters.Store(w.filters.Load().with(&indexedFilter{Filter: f, prog: ix.program(f.Expression)}, remove))
	if !remove {
		e.advanceMark(f.Mark)
	}
	return true
}

// changeWorkflow applies a workflow version committed through this engine to the current
// index without reading the store: a new tenant index is built from the tenant's indexed
// workflows with wf in place of its older version (keeping that one's filters), other
// tenants are shared. It does nothing when the index already holds this version or a
// newer one (a concurrent rebuild saw it first). Other replicas, and this one at its next
// check of the change mark, rebuild from the store.
func (e *Engine) changeWorkflow(wf store.Workflow) {
	e.indexMu.Lock()
	defer e.indexMu.Unlock()
	ix := e.index.Load()
	old := ix.tenants[wf.TenantID]
	var prev *indexedWorkflow
	if old != nil {
		prev = old.byName[wf.Name]
	}
	if prev != nil && prev.wf.Version >= wf.Version {
		return
	}
	w := &indexedWorkflow{wf: &wf, triggers: make([]indexedTrigger, len(wf.Def.Triggers))}
	for j, t := range wf.Def.Triggers {
		w.triggers[j] = indexedTrigger{Trigger: t, prog: ix.program(t.Expression)}
	}
	if prev != nil {
		w.filters.Store(prev.filters.Load())
	}
	ti := &tenantIndex{exact: map[string][]wfMatch{}, prefixes: map[string][]wfMatch{}, byName: map[string]*indexedWorkflow{}}
	var all []*indexedWorkflow
	if old != nil {
		all = make([]*indexedWorkflow, 0, len(old.all)+1)
		for _, x := range old.all {
			if x != prev {
				all = append(all, x)
			}
		}
	}
	all = append(all, w)
	sort.Slice(all, func(a, b int) bool { return all[a].wf.Name < all[b].wf.Name })
	for _, x := range all {
		ti.add(x)
	}
	ti.finish()
	next := &triggerIndex{tenants: make(map[string]*tenantIndex, len(ix.tenants)+1), progs: ix.progs}
	for id, t := range ix.tenants {
		next.tenants[id] = t
	}
	next.tenants[wf.TenantID] = ti
	e.index.Store(next)
	e.advanceMark(wf.Mark)
}

// advanceMark records that the index now holds the change that committed mark: when the
// index was at the mark just before it, it is now at this one, so the change's own
// notification (PostgreSQL) and the sweep's check find nothing to rebuild. Otherwise
// other changes came in between, and the next check rebuilds. The caller holds indexMu.
func (e *Engine) advanceMark(mark string) {
	if m, err := strconv.ParseInt(mark, 10, 64); err == nil && strconv.FormatInt(m-1, 10) == e.indexMark {
		e.indexMark = mark
	}
}

// add indexes w's triggers (already compiled) in ti; ti.all must then be sorted by name
// and ti.finish called.
func (ti *tenantIndex) add(w *indexedWorkflow) {
	ti.all = append(ti.all, w)
	ti.byName[w.wf.Name] = w
	for j, t := range w.triggers {
		if prefix, ok := strings.CutSuffix(t.Key, "*"); ok {
			if ti.prefixes[prefix] == nil {
				ti.lengths = append(ti.lengths, len(prefix))
			}
			ti.prefixes[prefix] = addTrigger(ti.prefixes[prefix], w, j)
			continue
		}
		ti.exact[t.Key] = addTrigger(ti.exact[t.Key], w, j)
	}
}

// finish sorts and deduplicates the prefix lengths once every workflow was added.
func (ti *tenantIndex) finish() {
	sort.Ints(ti.lengths)
	ti.lengths = dedupeInts(ti.lengths)
}

// addTrigger records trigger j of w in a key's list, grouping the triggers of one
// workflow (two triggers of one key, with different expressions, are one entry).
func addTrigger(ms []wfMatch, w *indexedWorkflow, j int) []wfMatch {
	if n := len(ms); n > 0 && ms[n-1].w == w {
		ms[n-1].trigs = append(ms[n-1].trigs, j)
		return ms
	}
	return append(ms, wfMatch{w: w, trigs: []int{j}})
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
// when several of its triggers match, with the positions of those triggers. With
// patterns involved the result is ordered by workflow name; with exact keys only, in
// index order (also by name). The result must not be modified.
func (ix *triggerIndex) match(tenantID, key string) []wfMatch {
	ti := ix.tenants[tenantID]
	if ti == nil {
		return nil
	}
	exact := ti.exact[key]
	if len(ti.lengths) == 0 {
		return exact
	}
	var out []wfMatch
	var pos map[*indexedWorkflow]int
	add := func(ms []wfMatch) {
		for _, m := range ms {
			if pos == nil {
				pos = map[*indexedWorkflow]int{}
			}
			if i, ok := pos[m.w]; ok {
				// Definition order, as Explain finds them: the first failing
				// expression named by a decision must not depend on the path.
				out[i].trigs = append(append([]int(nil), out[i].trigs...), m.trigs...)
				sort.Ints(out[i].trigs)
				continue
			}
			pos[m.w] = len(out)
			out = append(out, m)
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
		sort.Slice(out, func(a, b int) bool { return out[a].w.wf.Name < out[b].w.wf.Name })
	}
	return out
}

// workflows returns every workflow of a tenant, ordered by name.
func (ix *triggerIndex) workflows(tenantID string) []*indexedWorkflow {
	if ti := ix.tenants[tenantID]; ti != nil {
		return ti.all
	}
	return nil
}

// TriggerMatches reports whether a trigger key (an exact key or a pattern ending in "*")
// matches an event key.
func TriggerMatches(trigger, key string) bool {
	if prefix, ok := strings.CutSuffix(trigger, "*"); ok {
		return strings.HasPrefix(key, prefix)
	}
	return trigger == key
}

// rebuildSeq numbers index rebuilds so that concurrent forced rebuilds coalesce.
type rebuildSeq struct {
	started atomic.Uint64 // rebuilds started (incremented under indexMu)
	good    uint64        // the number of the last rebuild that succeeded (under indexMu)
}

// RefreshIndex rebuilds the trigger index from the store: workflows and their filters.
// Unless force is set, it first checks the store's change mark (bumped by workflow and
// filter changes) and skips the rebuild when nothing changed.
//
// A forced rebuild is skipped when another one started after this call did and
// succeeded while this call waited for it: that one read the store after the caller's
// change. So N workflows stored concurrently cost about N/concurrency rebuilds, not N.
func (e *Engine) RefreshIndex(ctx context.Context, force bool) error {
	if err := e.refreshSchemas(ctx); err != nil { // payload schemas share the refresh points
		return err
	}
	seen := e.indexSeq.started.Load()
	e.indexMu.Lock()
	defer e.indexMu.Unlock()
	if force && e.indexSeq.good > seen {
		return nil
	}
	seq := e.indexSeq.started.Add(1)
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
	filters, err := e.store.ListAllFilters(ctx)
	if err != nil {
		return fmt.Errorf("loading trigger filters: %w", err)
	}
	e.index.Store(buildIndex(wfs, filters, e.index.Load()))
	e.indexMark = mark
	e.indexSeq.good = seq
	return nil
}
