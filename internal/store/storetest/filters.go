package storetest

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/heraldhq/herald/internal/store"
)

func testFilters(t *testing.T, open Opener) {
	t.Run("CreateGetListDelete", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		other := b.newTenant("other")
		b.putWorkflow(other.ID, def("orders", stepDef("a")))

		mark0, err := b.s.WorkflowChangeMark(b.ctx)
		noErr(t, err, "WorkflowsChangeMark")
		f1 := store.Filter{ID: newID(), TenantID: b.tenant.ID, Workflow: "orders", Scope: "acme",
			Expression: "input.amount > 100", Payload: json.RawMessage(`{"tier":"gold"}`), CreatedAt: at(ms)}
		got, err := b.s.FilterCreate(b.ctx, f1)
		noErr(t, err, "CreateFilter")
		if got.WorkflowID != wf.ID || got.ID != f1.ID || got.Scope != "acme" || got.Expression != f1.Expression ||
			!filterPayloadSame(got.Payload, f1.Payload) || !got.CreatedAt.Equal(f1.CreatedAt) || got.Workflow != "orders" || got.TenantID != b.tenant.ID {
			t.Fatalf("CreateFilter = %+v, want %+v on workflow %s", got, f1, wf.ID)
		}
		mark1, err := b.s.WorkflowChangeMark(b.ctx)
		noErr(t, err, "WorkflowsChangeMark")
		if mark1 == mark0 {
			t.Errorf("creating a filter left the workflow change mark at %s", mark0)
		}
		f2 := store.Filter{ID: newID(), TenantID: b.tenant.ID, Workflow: "orders", Scope: "globex", CreatedAt: at(2 * ms)}
		_, err = b.s.FilterCreate(b.ctx, f2)
		noErr(t, err, "CreateFilter(no expression, no payload)")
		f3 := store.Filter{ID: newID(), TenantID: b.tenant.ID, Workflow: "orders", Scope: "acme", CreatedAt: at(3 * ms)}
		_, err = b.s.FilterCreate(b.ctx, f3)
		noErr(t, err, "CreateFilter")

		_, err = b.s.FilterCreate(b.ctx, store.Filter{ID: newID(), TenantID: b.tenant.ID, Workflow: "nope", Scope: "x", CreatedAt: base})
		wantErr(t, err, store.ErrNotFound, "CreateFilter on an unknown workflow")

		g, err := b.s.FilterGet(b.ctx, store.FilterRef{TenantID: b.tenant.ID, Workflow: "orders", ID: f2.ID})
		noErr(t, err, "GetFilter")
		if g.Payload != nil || g.Expression != "" || g.Scope != "globex" {
			t.Errorf("GetFilter = %+v, want no payload, no expression, scope globex", g)
		}
		_, err = b.s.FilterGet(b.ctx, store.FilterRef{TenantID: other.ID, Workflow: "orders", ID: f2.ID})
		wantErr(t, err, store.ErrNotFound, "GetFilter from another tenant")

		ids := func(fs []store.Filter) []string {
			out := []string{}
			for _, f := range fs {
				out = append(out, f.ID)
			}
			return out
		}
		all, err := b.s.FilterList(b.ctx, store.FilterListParams{TenantID: b.tenant.ID, Workflow: "orders"})
		noErr(t, err, "ListFilters")
		if got, want := ids(all), []string{f3.ID, f2.ID, f1.ID}; !sameFilterIDs(got, want) {
			t.Errorf("ListFilters = %v, want newest first %v", got, want)
		}
		acme, err := b.s.FilterList(b.ctx, store.FilterListParams{TenantID: b.tenant.ID, Workflow: "orders", Scope: "acme", Limit: 1})
		noErr(t, err, "ListFilters(scope)")
		if got, want := ids(acme), []string{f3.ID}; !sameFilterIDs(got, want) {
			t.Errorf("ListFilters(scope acme, limit 1) = %v, want %v", got, want)
		}
		acme, err = b.s.FilterList(b.ctx, store.FilterListParams{TenantID: b.tenant.ID, Workflow: "orders", Scope: "acme", Before: f3.ID})
		noErr(t, err, "ListFilters(cursor)")
		if got, want := ids(acme), []string{f1.ID}; !sameFilterIDs(got, want) {
			t.Errorf("ListFilters(scope acme, before f3) = %v, want %v", got, want)
		}
		none, err := b.s.FilterList(b.ctx, store.FilterListParams{TenantID: other.ID, Workflow: "orders"})
		noErr(t, err, "ListFilters(other tenant)")
		if len(none) != 0 {
			t.Errorf("another tenant lists %d filters, want 0", len(none))
		}

		if got, want := ids(b.changes("").Filters), []string{f1.ID, f2.ID, f3.ID}; !sameFilterIDs(got, want) {
			t.Errorf("WorkflowChanges(\"\") lists filters %v, want oldest first %v", got, want)
		}

		wantErr(t, b.s.FilterDelete(b.ctx, store.FilterRef{TenantID: other.ID, Workflow: "orders", ID: f1.ID}), store.ErrNotFound, "DeleteFilter from another tenant")
		mark2, err := b.s.WorkflowChangeMark(b.ctx)
		noErr(t, err, "WorkflowsChangeMark")
		noErr(t, b.s.FilterDelete(b.ctx, store.FilterRef{TenantID: b.tenant.ID, Workflow: "orders", ID: f1.ID}), "DeleteFilter")
		mark3, err := b.s.WorkflowChangeMark(b.ctx)
		noErr(t, err, "WorkflowsChangeMark")
		if mark3 == mark2 {
			t.Errorf("deleting a filter left the workflow change mark at %s", mark2)
		}
		wantErr(t, b.s.FilterDelete(b.ctx, store.FilterRef{TenantID: b.tenant.ID, Workflow: "orders", ID: f1.ID}), store.ErrNotFound, "DeleteFilter twice")
		_, err = b.s.FilterGet(b.ctx, store.FilterRef{TenantID: b.tenant.ID, Workflow: "orders", ID: f1.ID})
		wantErr(t, err, store.ErrNotFound, "GetFilter after delete")
	})
}

func filterPayloadSame(a, b json.RawMessage) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return false
	}
	// Stores may reorder keys (jsonb); the filters here have one key.
	return bytes.Equal(x.Bytes(), y.Bytes())
}

func sameFilterIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
