package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
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
// other change makes a new index from the current one with the changed workflows in place
// (see with): the other tenants, and the other workflows of a changed tenant, are shared,
// and so are compiled programs, by expression text. Only an engine's first index is built
// from every workflow of the store.
type triggerIndex struct {
	tenants map[string]*tenantIndex
	// progs holds every expression of the index compiled, by its text (and, after
	// changes, some no workflow uses any more, until they are dropped; see with).
	progs map[string]*program
	// progsUsed is how many programs progs held when it last held only used ones.
	progsUsed int
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
	// mark is the latest workflows change mark whose effect on this workflow the index
	// holds: the mark of its last change when it was read, raised by changes applied
	// later (written under indexMu). A change through this engine that is not newer was
	// already seen by a refresh and is not applied again.
	mark atomic.Int64
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

// progTable compiles expressions for a new index: it finds them in base (programs the new
// index keeps), then in reuse (programs of an index it replaces, kept only when used),
// and compiles the others once. Neither map is modified: indexes are read concurrently.
type progTable struct {
	base, reuse, added map[string]*program
}

func (pt *progTable) compile(expr string) *program {
	if expr == "" {
		return nil
	}
	if p := pt.base[expr]; p != nil {
		return p
	}
	if p := pt.added[expr]; p != nil {
		return p
	}
	p := pt.reuse[expr]
	if p == nil {
		prog, err := compileExpr(expr)
		p = &program{prog: prog}
		if err != nil {
			p = &program{err: "the stored expression does not compile: " + err.Error()}
		}
	}
	if pt.added == nil {
		pt.added = map[string]*program{}
	}
	pt.added[expr] = p
	return p
}

// table returns the programs of the new index: base and those compile added.
func (pt *progTable) table() map[string]*program {
	if len(pt.added) == 0 && pt.base != nil {
		return pt.base
	}
	out := make(map[string]*program, len(pt.base)+len(pt.added))
	maps.Copy(out, pt.base)
	maps.Copy(out, pt.added)
	return out
}

// indexWorkflows makes the indexed form of wfs, in their order: each with its triggers
// compiled and exactly the filters of filters that belong to it (others are ignored).
func indexWorkflows(wfs []store.Workflow, filters []store.Filter, pt *progTable) []*indexedWorkflow {
	out := make([]*indexedWorkflow, len(wfs))
	byID := make(map[string]*indexedWorkflow, len(wfs))
	for i := range wfs {
		wf := &wfs[i]
		w := &indexedWorkflow{wf: wf, triggers: make([]indexedTrigger, len(wf.Def.Triggers))}
		for j, t := range wf.Def.Triggers { // NormalizeWorkflow removed duplicates
			w.triggers[j] = indexedTrigger{Trigger: t, prog: pt.compile(t.Expression)}
		}
		w.mark.Store(markNumber(wf.Mark))
		out[i] = w
		byID[wf.ID] = w
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
		fs.byScope[f.Scope] = append(fs.byScope[f.Scope], &indexedFilter{Filter: f, prog: pt.compile(f.Expression)})
	}
	for w, set := range sets {
		for _, fs := range set.byScope {
			sort.Slice(fs, func(a, b int) bool { return fs[a].ID < fs[b].ID })
		}
		w.filters.Store(set)
	}
	return out
}

// buildIndex indexes the workflows and their filters. Expressions already compiled in
// prev (which may be nil) are reused.
func buildIndex(wfs []store.Workflow, filters []store.Filter, prev *triggerIndex) *triggerIndex {
	pt := &progTable{}
	if prev != nil {
		pt.reuse = prev.progs
	}
	byTenant := map[string][]*indexedWorkflow{}
	for _, w := range indexWorkflows(wfs, filters, pt) {
		byTenant[w.wf.TenantID] = append(byTenant[w.wf.TenantID], w)
	}
	ix := &triggerIndex{tenants: make(map[string]*tenantIndex, len(byTenant)), progs: pt.table()}
	ix.progsUsed = len(ix.progs)
	for tenant, ws := range byTenant {
		// By name, in Go's order (not the store's collation): the order with keeps.
		sort.Slice(ws, func(a, b int) bool { return ws[a].wf.Name < ws[b].wf.Name })
		ti := &tenantIndex{exact: map[string][]wfMatch{}, prefixes: map[string][]wfMatch{}, byName: map[string]*indexedWorkflow{}}
		for _, w := range ws {
			ti.add(w)
		}
		ti.finish()
		ix.tenants[tenant] = ti
	}
	return ix
}

// apply returns ix with the workflows of wfs (each with exactly the filters of filters
// that belong to it) in place of their indexed versions, or added. Workflows the index
// already holds as they are (this engine applied its own change) are left alone; when
// that is all of them, apply returns ix itself.
func (ix *triggerIndex) apply(wfs []store.Workflow, filters []store.Filter) *triggerIndex {
	filterIDs := map[string][]string{}
	for _, f := range filters {
		filterIDs[f.WorkflowID] = append(filterIDs[f.WorkflowID], f.ID)
	}
	changed := slices.DeleteFunc(slices.Clone(wfs), func(wf store.Workflow) bool {
		w := ix.holds(wf, filterIDs[wf.ID])
		if w != nil {
			w.mark.Store(max(w.mark.Load(), markNumber(wf.Mark)))
		}
		return w != nil
	})
	if len(changed) == 0 {
		return ix
	}
	pt := &progTable{base: ix.progs}
	return ix.with(indexWorkflows(changed, filters, pt), pt.table())
}

// holds returns the indexed workflow when ix has wf's version of wf, enabled or disabled
// alike, with exactly the filters filterIDs (filters are created and deleted, never
// changed); else nil.
func (ix *triggerIndex) holds(wf store.Workflow, filterIDs []string) *indexedWorkflow {
	ti := ix.tenants[wf.TenantID]
	if ti == nil {
		return nil
	}
	w := ti.byName[wf.Name]
	if w == nil || w.wf.ID != wf.ID || w.wf.Version != wf.Version || w.wf.Active != wf.Active {
		return nil
	}
	var have []string
	if fs := w.filterSet(); fs != nil {
		for _, l := range fs.byScope {
			for _, f := range l {
				have = append(have, f.ID)
			}
		}
	}
	slices.Sort(have)
	if !slices.Equal(have, slices.Sorted(slices.Values(filterIDs))) {
		return nil
	}
	return w
}

// markNumber is a change mark as a number; 0 for none.
func markNumber(mark string) int64 {
	n, _ := strconv.ParseInt(mark, 10, 64)
	return n
}

// with returns a new index: ix with each of ws in place of the workflow of its tenant and
// name, or added, and with the programs progs. Tenants without a workflow in ws are
// shared with ix.
func (ix *triggerIndex) with(ws []*indexedWorkflow, progs map[string]*program) *triggerIndex {
	byTenant := map[string][]*indexedWorkflow{}
	for _, w := range ws {
		byTenant[w.wf.TenantID] = append(byTenant[w.wf.TenantID], w)
	}
	next := &triggerIndex{tenants: make(map[string]*tenantIndex, len(ix.tenants)+len(byTenant)), progs: progs, progsUsed: ix.progsUsed}
	maps.Copy(next.tenants, ix.tenants)
	for tenant, tws := range byTenant {
		next.tenants[tenant] = ix.tenants[tenant].with(tws)
	}
	// Programs of replaced versions stay in progs; once they could be half of it, keep
	// only those in use, so that a long-lived engine's table does not grow with every
	// version ever put.
	if len(next.progs) > 2*next.progsUsed+64 {
		next.progs = next.usedPrograms()
		next.progsUsed = len(next.progs)
	}
	return next
}

// usedPrograms returns the programs of every trigger and filter of ix, by expression.
func (ix *triggerIndex) usedPrograms() map[string]*program {
	used := map[string]*program{}
	for _, ti := range ix.tenants {
		for _, w := range ti.all {
			for _, t := range w.triggers {
				if t.prog != nil {
					used[t.Expression] = t.prog
				}
			}
			if fs := w.filterSet(); fs != nil {
				for _, l := range fs.byScope {
					for _, f := range l {
						if f.prog != nil {
							used[f.Expression] = f.prog
						}
					}
				}
			}
		}
	}
	return used
}

// with returns a copy of ti (which may be nil) with each of ws (workflows of ti's tenant)
// in place of the workflow of its name, or added. ti is not modified, and its workflows
// and key lists are shared where they did not change: a change costs copies of ti's maps,
// not a rebuild of every workflow's entries.
func (ti *tenantIndex) with(ws []*indexedWorkflow) *tenantIndex {
	next := &tenantIndex{exact: map[string][]wfMatch{}, prefixes: map[string][]wfMatch{}, byName: map[string]*indexedWorkflow{}}
	var old []*indexedWorkflow
	if ti != nil {
		next.exact, next.prefixes, next.byName = maps.Clone(ti.exact), maps.Clone(ti.prefixes), maps.Clone(ti.byName)
		old = ti.all
	}
	replaced := map[*indexedWorkflow]bool{}
	for _, w := range ws {
		if prev := next.byName[w.wf.Name]; prev != nil {
			replaced[prev] = true
			next.forEachKey(prev, func(m map[string][]wfMatch, key string, _ []int) {
				l := slices.DeleteFunc(slices.Clone(m[key]), func(x wfMatch) bool { return x.w == prev })
				if len(l) == 0 {
					delete(m, key)
				} else {
					m[key] = l
				}
			})
		}
		next.byName[w.wf.Name] = w
		next.forEachKey(w, func(m map[string][]wfMatch, key string, trigs []int) {
			l := m[key]
			i := sort.Search(len(l), func(i int) bool { return l[i].w.wf.Name >= w.wf.Name })
			m[key] = slices.Insert(slices.Clip(l), i, wfMatch{w: w, trigs: trigs})
		})
	}
	// Every workflow by name: the old ones kept, merged with ws.
	added := slices.DeleteFunc(slices.Clone(ws), func(w *indexedWorkflow) bool { return next.byName[w.wf.Name] != w })
	sort.Slice(added, func(a, b int) bool { return added[a].wf.Name < added[b].wf.Name })
	next.all = make([]*indexedWorkflow, 0, len(old)+len(added))
	for _, x := range old {
		if replaced[x] {
			continue
		}
		for len(added) > 0 && added[0].wf.Name < x.wf.Name {
			next.all, added = append(next.all, added[0]), added[1:]
		}
		next.all = append(next.all, x)
	}
	next.all = append(next.all, added...)
	for prefix := range next.prefixes {
		next.lengths = append(next.lengths, len(prefix))
	}
	next.finish()
	return next
}

// forEachKey calls fn for each distinct key of w's triggers, with the map that holds it
// (exact keys or pattern prefixes) and the positions of w's triggers of that key.
func (ti *tenantIndex) forEachKey(w *indexedWorkflow, fn func(m map[string][]wfMatch, key string, trigs []int)) {
	type slot struct {
		pattern bool
		key     string
	}
	var order []slot
	trigs := map[slot][]int{}
	for j, t := range w.triggers {
		prefix, pattern := strings.CutSuffix(t.Key, "*")
		sl := slot{pattern, prefix}
		if _, seen := trigs[sl]; !seen {
			order = append(order, sl)
		}
		trigs[sl] = append(trigs[sl], j)
	}
	for _, sl := range order {
		m := ti.exact
		if sl.pattern {
			m = ti.prefixes
		}
		fn(m, sl.key, trigs[sl])
	}
}

// program returns the compiled program of an expression: the index's when it has one,
// else a new one (not added to the index, which is read concurrently).
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
// the current index, without reading the store: the workflow's filter set is replaced. It
// reports false when the index does not know the workflow (then the caller refreshes).
// Other replicas, and this one at its next check of the change mark, read the change from
// the store.
func (bs *base) changeFilter(f store.Filter, remove bool) bool {
	bs.indexMu.Lock()
	defer bs.indexMu.Unlock()
	ix := bs.index.Load()
	ti := ix.tenants[f.TenantID]
	if ti == nil {
		return false
	}
	w := ti.byName[f.Workflow]
	if w == nil || (f.WorkflowID != "" && w.wf.ID != f.WorkflowID) {
		return false
	}
	if remove {
		// A filter's id is never used again, so removing it is never stale.
		w.filters.Store(w.filters.Load().with(&indexedFilter{Filter: f}, true))
		return true
	}
	// A refresh that read the workflow at or after the filter's mark holds the filter
	// already, or saw it deleted since: adding it then would bring it back.
	if m := markNumber(f.Mark); w.mark.Load() < m {
		w.filters.Store(w.filters.Load().with(&indexedFilter{Filter: f, prog: ix.program(f.Expression)}, false))
		w.mark.Store(m)
	}
	bs.advanceMark(f.Mark)
	return true
}

// changeWorkflow applies a workflow version committed through this engine to the current
// index without reading the store: wf takes the place of its older version (keeping that
// one's filters). It does nothing when the index already holds this version or a newer
// one (a concurrent refresh saw it first). Other replicas, and this one at its next check
// of the change mark, read the change from the store.
func (bs *base) changeWorkflow(wf store.Workflow) {
	bs.indexMu.Lock()
	defer bs.indexMu.Unlock()
	ix := bs.index.Load()
	var prev *indexedWorkflow
	if ti := ix.tenants[wf.TenantID]; ti != nil {
		prev = ti.byName[wf.Name]
	}
	if prev != nil && prev.wf.Version >= wf.Version {
		return
	}
	pt := &progTable{base: ix.progs}
	w := indexWorkflows([]store.Workflow{wf}, nil, pt)[0]
	if prev != nil {
		w.filters.Store(prev.filters.Load())
		w.mark.Store(max(w.mark.Load(), prev.mark.Load()))
	}
	bs.index.Store(ix.with([]*indexedWorkflow{w}, pt.table()))
	bs.advanceMark(wf.Mark)
}

// advanceMark records that the index now holds the change that committed mark: when the
// index was at the mark just before it, it is now at this one, so the change's own
// notification (PostgreSQL) and the sweep's check find nothing to rebuild. Otherwise
// other changes came in between, and the next check rebuilds. The caller holds indexMu.
func (bs *base) advanceMark(mark string) {
	if m, err := strconv.ParseInt(mark, 10, 64); err == nil && strconv.FormatInt(m-1, 10) == bs.indexMark {
		bs.indexMark = mark
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

// RefreshIndex brings the trigger index up to date with the store: workflows and their
// filters. Unless force is set, it first checks the store's change mark (bumped by every
// workflow and filter change), does nothing when the index is at that mark, and else
// reads and applies only the workflows changed after the index's mark. A forced refresh,
// and the first, read every workflow.
//
// A forced rebuild is skipped when another one started after this call did and
// succeeded while this call waited for it: that one read the store after the caller's
// change.
func (bs *base) RefreshIndex(ctx context.Context, force bool) error {
	if err := bs.refreshSchemas(ctx); err != nil { // payload schemas share the refresh points
		return err
	}
	seen := bs.indexSeq.started.Load()
	bs.indexMu.Lock()
	defer bs.indexMu.Unlock()
	if force && bs.indexSeq.good > seen {
		return nil
	}
	seq := bs.indexSeq.started.Add(1)
	since := bs.indexMark
	if force {
		since = ""
	}
	if since != "" {
		mark, err := bs.store.WorkflowChangeMark(ctx)
		if err != nil {
			return fmt.Errorf("reading workflow change mark: %w", err)
		}
		if mark == since {
			return nil
		}
		if behind(mark, since) {
			since = "" // the store went back (restored from a backup): read it all
		}
	}
	cs, err := bs.store.WorkflowChanges(ctx, since)
	if err != nil {
		return fmt.Errorf("loading trigger index: %w", err)
	}
	if since == "" {
		bs.index.Store(buildIndex(cs.Workflows, cs.Filters, bs.index.Load()))
	} else {
		bs.index.Store(bs.index.Load().apply(cs.Workflows, cs.Filters))
	}
	bs.indexMark = cs.Mark
	bs.indexSeq.good = seq
	return nil
}

// behind reports whether change mark a is before b.
func behind(a, b string) bool {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	return errA == nil && errB == nil && x < y
}
