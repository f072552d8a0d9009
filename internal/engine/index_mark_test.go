package engine

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// openSQLite opens a new SQLite store that closes when the test ends.
func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "h.db"), Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// sqliteEngine opens an engine (not started) on a new SQLite store holding tenant "t";
// both close when the test ends.
func sqliteEngine(t *testing.T) (*Engine, *sqlite.Store) {
	t.Helper()
	ctx := context.Background()
	st := openSQLite(t)
	e, err := New(ctx, st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if err := st.TenantCreate(ctx, store.Tenant{ID: "t", Name: "t", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return e, st
}

// TestPutWorkflowKeepsIndexMark: a workflow put (or a filter created) through this engine
// is applied to the index in place, and the index's change mark follows the store's, so the next check of
// the mark (the sweep; on PostgreSQL the change's own notification) rebuilds nothing. A
// change made behind the engine's back still moves the store's mark past the index's.
func TestPutWorkflowKeepsIndexMark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, st := sqliteEngine(t)
	mark := func() (index, stored string) {
		e.indexMu.Lock()
		index = e.indexMark
		e.indexMu.Unlock()
		stored, err := st.WorkflowChangeMark(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return index, stored
	}
	for i, trig := range []string{"a", "b", "c"} {
		def := store.WorkflowDef{Name: "w", Triggers: store.PlainTriggers(trig), Steps: []store.StepDef{{Name: "s"}}}
		if _, created, err := e.PutWorkflow(ctx, "t", def); err != nil || !created {
			t.Fatalf("put %d: created %v, err %v", i, created, err)
		}
		if index, stored := mark(); index != stored {
			t.Fatalf("after put %d the index is at mark %q, the store at %q: the next check would rebuild", i, index, stored)
		}
		if got := e.index.Load().match("t", trig); len(got) != 1 || got[0].w.wf.Version != i+1 {
			t.Fatalf("after put %d, %q matches %d workflows", i, trig, len(got))
		}
	}
	// So does a filter created through this engine.
	if _, err := e.CreateFilter(ctx, "t", "w", FilterSpec{Scope: "acme"}); err != nil {
		t.Fatal(err)
	}
	if index, stored := mark(); index != stored {
		t.Fatalf("after a filter the index is at mark %q, the store at %q", index, stored)
	}
	// A put straight into the store (another replica) leaves the index behind its mark.
	def := store.WorkflowDef{Name: "other", Triggers: store.PlainTriggers("d"), Steps: []store.StepDef{{Name: "s"}}}
	if _, _, err := st.WorkflowPut(ctx, store.PutWorkflowParams{TenantID: "t", NewID: NewID(), Def: def, Hash: "h", At: now()}); err != nil {
		t.Fatal(err)
	}
	if index, stored := mark(); index == stored {
		t.Fatalf("a change behind the engine's back left the marks equal (%q)", index)
	}
	if err := e.RefreshIndex(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := e.index.Load().match("t", "d"); len(got) != 1 {
		t.Fatalf("after the rebuild, d matches %d workflows", len(got))
	}
}

// TestRefreshReadsOnlyWhatChanged: changes made behind the engine's back (another
// replica) are read by the next refresh, and only they: the index keeps the indexed form
// of every other workflow (the same pointers), a new version replaces its old one, a
// disabled workflow is marked so, and a filter deleted elsewhere leaves the index.
func TestRefreshReadsOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, st := sqliteEngine(t)
	put := func(name string, triggers ...string) store.WorkflowDef {
		def, hash, err := NormalizeWorkflow(store.WorkflowDef{Name: name, Triggers: store.PlainTriggers(triggers...), Steps: []store.StepDef{{Name: "s"}}})
		if err != nil {
			t.Fatal(err)
		}
		// Straight into the store: the engine learns of it only by refreshing.
		if _, _, err := st.WorkflowPut(ctx, store.PutWorkflowParams{TenantID: "t", NewID: NewID(), Def: def, Hash: hash, At: now()}); err != nil {
			t.Fatal(err)
		}
		return def
	}
	refresh := func() *triggerIndex {
		t.Helper()
		if err := e.RefreshIndex(ctx, false); err != nil {
			t.Fatal(err)
		}
		return e.index.Load()
	}
	for i := range 50 {
		put(fmt.Sprintf("w%02d", i), fmt.Sprintf("k%d", i), "all:*")
	}
	f, err := st.FilterCreate(ctx, store.Filter{ID: NewID(), TenantID: "t", Workflow: "w07", Scope: "acme", CreatedAt: now()})
	if err != nil {
		t.Fatal(err)
	}
	before := refresh()
	if got := len(before.match("t", "all:x")); got != 50 {
		t.Fatalf("all:x matches %d workflows, want 50", got)
	}
	if before.tenants["t"].byName["w07"].filterSet() == nil {
		t.Fatal("w07's filter is not in the index")
	}

	put("w03", "k3-new")
	if _, err := st.WorkflowSetActive(ctx, store.WorkflowSetActiveParams{TenantID: "t", Name: "w05", Active: false, At: now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.FilterDelete(ctx, store.FilterRef{TenantID: "t", Workflow: "w07", ID: f.ID}); err != nil {
		t.Fatal(err)
	}
	put("w50", "k50")
	after := refresh()

	ti, old := after.tenants["t"], before.tenants["t"]
	for name, w := range old.byName {
		switch name {
		case "w03", "w05", "w07":
			if ti.byName[name] == w {
				t.Errorf("%s changed but the index kept its old form", name)
			}
		default:
			if ti.byName[name] != w {
				t.Errorf("%s did not change but the index holds a new form of it: it was read again", name)
			}
		}
	}
	if got := ti.byName["w03"]; got.wf.Version != 2 || len(after.match("t", "k3")) != 0 || len(after.match("t", "k3-new")) != 1 {
		t.Errorf("w03 is at version %d in the index, k3 matches %d, k3-new %d: want the new version only",
			got.wf.Version, len(after.match("t", "k3")), len(after.match("t", "k3-new")))
	}
	if ti.byName["w05"].wf.Active {
		t.Error("w05 was disabled but the index has it active")
	}
	if ti.byName["w07"].filterSet() != nil {
		t.Error("w07's filter was deleted but the index still has it")
	}
	if len(after.match("t", "k50")) != 1 || len(after.match("t", "all:x")) != 49 || len(ti.all) != 51 {
		t.Errorf("k50 matches %d, all:x %d, the tenant has %d workflows: want 1, 49, 51",
			len(after.match("t", "k50")), len(after.match("t", "all:x")), len(ti.all))
	}
	// The same index, rebuilt from scratch, decides alike.
	if err := e.RefreshIndex(ctx, true); err != nil {
		t.Fatal(err)
	}
	assertSameIndex(t, e.index.Load(), after, "t", []string{"k3", "k3-new", "k5", "k7", "k50", "all:x", "all:", "k1"})
}

// TestIncrementalIndexMatchesRebuild changes random workflows (triggers that are exact
// keys, patterns, several of one key) one batch at a time through with, and checks after
// each batch that the index decides every key as an index built from scratch from the
// same workflows does.
func TestIncrementalIndexMatchesRebuild(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "ab", "abc", "b", "b:c", "ba", "c"}
	randomWorkflow := func(tenant, name string, version int) store.Workflow {
		var trs []store.Trigger
		for range rng.IntN(4) {
			k := keys[rng.IntN(len(keys))]
			if rng.IntN(3) == 0 {
				k = k[:rng.IntN(len(k)+1)] + "*"
			}
			trs = append(trs, store.Trigger{Key: k})
			if rng.IntN(4) == 0 { // a second trigger of one key, with an expression
				trs = append(trs, store.Trigger{Key: k, Expression: "input.n > 1"})
			}
		}
		return store.Workflow{ID: tenant + "/" + name, TenantID: tenant, Name: name, Version: version,
			Def: store.WorkflowDef{Name: name, Triggers: trs}}
	}
	current := map[string]store.Workflow{}
	ix := buildIndex(nil, nil, nil)
	for round := range 200 {
		var batch []store.Workflow
		for range 1 + rng.IntN(3) {
			tenant := []string{"t1", "t2"}[rng.IntN(2)]
			name := fmt.Sprintf("w%d", rng.IntN(12))
			wf := randomWorkflow(tenant, name, current[tenant+"/"+name].Version+1)
			if _, dup := current[wf.ID]; dup && slices.ContainsFunc(batch, func(b store.Workflow) bool { return b.ID == wf.ID }) {
				continue
			}
			current[wf.ID] = wf
			batch = append(batch, wf)
		}
		ix = ix.apply(batch, nil)
		all := slices.Collect(maps.Values(current))
		fresh := buildIndex(all, nil, nil)
		probe := append(slices.Clone(keys), "", "x", "abcd", "b:")
		for _, tenant := range []string{"t1", "t2", "t3"} {
			if !assertSameIndex(t, fresh, ix, tenant, probe) {
				t.Fatalf("round %d: the index made by changes differs from a rebuild", round)
			}
		}
	}
}

// assertSameIndex checks that two indexes list the same workflows of tenant and match
// each key to the same workflows and triggers, in the same order.
func assertSameIndex(t *testing.T, want, got *triggerIndex, tenant string, keys []string) bool {
	t.Helper()
	describe := func(ms []wfMatch) []string {
		var out []string
		for _, m := range ms {
			out = append(out, fmt.Sprintf("%s@%d%v", m.w.wf.Name, m.w.wf.Version, m.trigs))
		}
		return out
	}
	ok := true
	var wantAll, gotAll []string
	for _, w := range want.workflows(tenant) {
		wantAll = append(wantAll, fmt.Sprintf("%s@%d active=%v", w.wf.Name, w.wf.Version, w.wf.Active))
	}
	for _, w := range got.workflows(tenant) {
		gotAll = append(gotAll, fmt.Sprintf("%s@%d active=%v", w.wf.Name, w.wf.Version, w.wf.Active))
	}
	if !slices.Equal(wantAll, gotAll) {
		t.Errorf("tenant %s lists %v, want %v", tenant, gotAll, wantAll)
		ok = false
	}
	for _, k := range keys {
		if w, g := describe(want.match(tenant, k)), describe(got.match(tenant, k)); !slices.Equal(w, g) {
			t.Errorf("tenant %s, key %q matches %v, want %v", tenant, k, g, w)
			ok = false
		}
	}
	return ok
}

// TestFilterDeletedElsewhereStaysDeleted: a filter created through this engine is
// applied to the index after its commit; when another replica deleted it in between and
// a refresh already read that, applying the creation would bring the filter back for
// good (the index is at the store's mark, so no refresh reads the workflow again).
func TestFilterDeletedElsewhereStaysDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, st := sqliteEngine(t)
	def := store.WorkflowDef{Name: "w", Triggers: store.PlainTriggers("a"), Steps: []store.StepDef{{Name: "s"}}}
	if _, _, err := e.PutWorkflow(ctx, "t", def); err != nil {
		t.Fatal(err)
	}
	// This engine's CreateFilter committed F, then, before it applied F to its index,
	// another replica deleted F and this engine refreshed.
	f, err := st.FilterCreate(ctx, store.Filter{ID: NewID(), TenantID: "t", Workflow: "w", Scope: "acme", CreatedAt: now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.FilterDelete(ctx, store.FilterRef{TenantID: "t", Workflow: "w", ID: f.ID}); err != nil {
		t.Fatal(err)
	}
	if err := e.RefreshIndex(ctx, false); err != nil {
		t.Fatal(err)
	}
	if !e.changeFilter(f, false) {
		t.Fatal("changeFilter did not find the workflow")
	}
	if err := e.RefreshIndex(ctx, false); err != nil {
		t.Fatal(err)
	}
	if fs := e.index.Load().tenants["t"].byName["w"].filterSet(); fs != nil {
		t.Fatalf("the index holds the deleted filter: %+v", fs.byScope)
	}
	// A filter whose creation no refresh has seen yet is applied.
	g, err := st.FilterCreate(ctx, store.Filter{ID: NewID(), TenantID: "t", Workflow: "w", Scope: "globex", CreatedAt: now()})
	if err != nil {
		t.Fatal(err)
	}
	e.changeFilter(g, false)
	if fs := e.index.Load().tenants["t"].byName["w"].filterSet(); fs == nil || len(fs.byScope["globex"]) != 1 {
		t.Fatal("a filter created through this engine is not in its index")
	}
}

// TestIndexDropsProgramsOfOldVersions puts 300 versions of a workflow, each with its own
// trigger expression, through changes: the index's program table keeps the current one
// and stays small, instead of holding every expression ever put.
func TestIndexDropsProgramsOfOldVersions(t *testing.T) {
	t.Parallel()
	ix := buildIndex(nil, nil, nil)
	for v := 1; v <= 300; v++ {
		expr := fmt.Sprintf("input.n > %d", v)
		wf := store.Workflow{ID: "w", TenantID: "t", Name: "w", Version: v,
			Def: store.WorkflowDef{Name: "w", Triggers: []store.Trigger{{Key: "k", Expression: expr}}}}
		ix = ix.apply([]store.Workflow{wf}, nil)
		if ms := ix.match("t", "k"); len(ms) != 1 || ms[0].w.triggers[0].prog != ix.progs[expr] || ix.progs[expr] == nil {
			t.Fatalf("version %d: the index does not hold the current expression's program", v)
		}
	}
	if n := len(ix.progs); n > 2*1+64 {
		t.Errorf("the program table holds %d programs for 1 expression in use", n)
	}
}
