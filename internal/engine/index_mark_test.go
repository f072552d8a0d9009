package engine

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// TestPutWorkflowKeepsIndexMark: a workflow put (or a filter created) through this engine
// is applied to the index in place, and the index's change mark follows the store's, so the next check of
// the mark (the sweep; on PostgreSQL the change's own notification) rebuilds nothing. A
// change made behind the engine's back still moves the store's mark past the index's.
func TestPutWorkflowKeepsIndexMark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "h.db"), Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := New(ctx, st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := st.CreateTenant(ctx, store.Tenant{ID: "t", Name: "t", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	mark := func() (index, stored string) {
		e.indexMu.Lock()
		index = e.indexMark
		e.indexMu.Unlock()
		stored, err := st.WorkflowsChangeMark(ctx)
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
	if _, _, err := st.PutWorkflow(ctx, store.PutWorkflowParams{TenantID: "t", NewID: NewID(), Def: def, Hash: "h", At: now()}); err != nil {
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
