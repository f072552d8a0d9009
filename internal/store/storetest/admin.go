package storetest

import (
	"crypto/sha256"
	"reflect"
	"strconv"
	"testing"

	"github.com/heraldhq/herald/internal/store"
)

func testTenants(t *testing.T, open Opener) {
	t.Run("CreateAndGet", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		want := store.Tenant{ID: newID(), Name: "globex", CreatedAt: at(5 * ms)}
		noErr(t, b.s.TenantCreate(b.ctx, want), "CreateTenant")

		got, err := b.s.TenantGetByName(b.ctx, "globex")
		noErr(t, err, "GetTenantByName")
		if got.ID != want.ID || got.Name != want.Name || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("GetTenantByName = %+v, want %+v", got, want)
		}
		got, err = b.s.TenantGet(b.ctx, want.ID)
		noErr(t, err, "GetTenant")
		if got.ID != want.ID || got.Name != want.Name || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("GetTenant = %+v, want %+v", got, want)
		}

		_, err = b.s.TenantGetByName(b.ctx, "initech")
		wantErr(t, err, store.ErrNotFound, "GetTenantByName(unknown)")
		_, err = b.s.TenantGet(b.ctx, newID())
		wantErr(t, err, store.ErrNotFound, "GetTenant(unknown)")
	})

	t.Run("NameIsUnique", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		err := b.s.TenantCreate(b.ctx, store.Tenant{ID: newID(), Name: b.tenant.Name, CreatedAt: base})
		wantErr(t, err, store.ErrConflict, "CreateTenant(taken name)")

		got, err := b.s.TenantGetByName(b.ctx, b.tenant.Name)
		noErr(t, err, "GetTenantByName")
		if got.ID != b.tenant.ID {
			t.Errorf("tenant %q now has id %s, want the original %s", b.tenant.Name, got.ID, b.tenant.ID)
		}
		ts, err := b.s.TenantList(b.ctx)
		noErr(t, err, "ListTenants")
		if len(ts) != 1 {
			t.Errorf("ListTenants = %d tenants, want 1", len(ts))
		}
	})

	t.Run("ListByName", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open) // creates "acme"
		zeta := b.newTenant("zeta")
		beta := b.newTenant("beta")
		ts, err := b.s.TenantList(b.ctx)
		noErr(t, err, "ListTenants")
		var got []string
		for _, tn := range ts {
			got = append(got, tn.ID)
		}
		want := []string{b.tenant.ID, beta.ID, zeta.ID}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ListTenants ids = %v, want %v (acme, beta, zeta)", got, want)
		}
	})
}

func newToken(tenantID, name, secret string, role store.Role) store.Token {
	sum := sha256.Sum256([]byte(secret))
	return store.Token{ID: newID(), TenantID: tenantID, Name: name, Hash: sum[:], Role: role, CreatedAt: base}
}

func testTokens(t *testing.T, open Opener) {
	t.Run("CreateAndLookUpByHash", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		tok := newToken(b.tenant.ID, "ci", "s3cret", store.RoleOperator)
		noErr(t, b.s.TokenCreate(b.ctx, tok), "CreateToken")

		got, err := b.s.TokenGetByHash(b.ctx, tok.Hash)
		noErr(t, err, "GetTokenByHash")
		if got.ID != tok.ID || got.TenantID != b.tenant.ID || got.TenantName != b.tenant.Name || got.Name != "ci" ||
			got.Role != store.RoleOperator || string(got.Hash) != string(tok.Hash) || !got.CreatedAt.Equal(base) || got.RevokedAt != nil {
			t.Errorf("GetTokenByHash = %+v, want %+v with tenant name %q", got, tok, b.tenant.Name)
		}

		other := sha256.Sum256([]byte("wrong"))
		_, err = b.s.TokenGetByHash(b.ctx, other[:])
		wantErr(t, err, store.ErrNotFound, "GetTokenByHash(unknown)")
	})

	t.Run("RevokedTokenIsNotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		tok := newToken(b.tenant.ID, "ci", "s3cret", store.RoleMember)
		noErr(t, b.s.TokenCreate(b.ctx, tok), "CreateToken")
		noErr(t, b.s.TokenRevoke(b.ctx, store.TokenRevokeParams{TenantID: b.tenant.ID, ID: tok.ID, At: at(time1)}), "RevokeToken")

		_, err := b.s.TokenGetByHash(b.ctx, tok.Hash)
		wantErr(t, err, store.ErrNotFound, "GetTokenByHash(revoked)")
		// TokenGet finds it by id, revoked, with its role.
		got, err := b.s.TokenGet(b.ctx, b.tenant.ID, tok.ID)
		noErr(t, err, "GetToken(revoked)")
		if got.ID != tok.ID || got.TenantName != b.tenant.Name || got.Role != store.RoleMember || got.Name != "ci" {
			t.Errorf("GetToken = %+v, want %+v", got, tok)
		}
		wantTime(t, got.RevokedAt, at(time1), "GetToken RevokedAt")

		toks, err := b.s.TokenList(b.ctx, b.tenant.ID)
		noErr(t, err, "ListTokens")
		if len(toks) != 1 || toks[0].ID != tok.ID {
			t.Fatalf("ListTokens = %+v, want the revoked token", toks)
		}
		wantTime(t, toks[0].RevokedAt, at(time1), "RevokedAt")
	})

	t.Run("RevokeOtherTenantsTokenIsNotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("globex")
		tok := newToken(other.ID, "ci", "s3cret", store.RoleMember)
		noErr(t, b.s.TokenCreate(b.ctx, tok), "CreateToken")

		_, err := b.s.TokenGet(b.ctx, b.tenant.ID, tok.ID)
		wantErr(t, err, store.ErrNotFound, "GetToken(other tenant's token)")
		err = b.s.TokenRevoke(b.ctx, store.TokenRevokeParams{TenantID: b.tenant.ID, ID: tok.ID, At: base})
		wantErr(t, err, store.ErrNotFound, "RevokeToken(other tenant's token)")
		err = b.s.TokenRevoke(b.ctx, store.TokenRevokeParams{TenantID: b.tenant.ID, ID: newID(), At: base})
		wantErr(t, err, store.ErrNotFound, "RevokeToken(unknown)")

		if _, err := b.s.TokenGetByHash(b.ctx, tok.Hash); err != nil {
			t.Errorf("the other tenant's token no longer works: %v", err)
		}
	})

	t.Run("ListIsPerTenant", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("globex")
		t1 := newToken(b.tenant.ID, "one", "s1", store.RoleMember)
		t2 := newToken(b.tenant.ID, "two", "s2", store.RoleAdmin)
		t3 := newToken(other.ID, "three", "s3", store.RoleMember)
		for _, tok := range []store.Token{t1, t2, t3} {
			noErr(t, b.s.TokenCreate(b.ctx, tok), "CreateToken")
		}
		toks, err := b.s.TokenList(b.ctx, b.tenant.ID)
		noErr(t, err, "ListTokens")
		got := map[string]bool{}
		for _, tok := range toks {
			got[tok.ID] = true
			if tok.TenantID != b.tenant.ID {
				t.Errorf("ListTokens(acme) returned token %s of tenant %s", tok.ID, tok.TenantID)
			}
		}
		if len(toks) != 2 || !got[t1.ID] || !got[t2.ID] {
			t.Errorf("ListTokens(acme) = %+v, want tokens one and two", toks)
		}
	})
}

const time1 = 1000 * ms

func testWorkflows(t *testing.T, open Opener) {
	d1 := def("orders", stepDef("charge"), stepDef("ship", "charge"))
	d2 := def("orders", stepDef("charge"), stepDef("ship", "charge"), stepDef("notify", "ship"))

	t.Run("PutCreatesVersion1", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		id := newID()
		wf, created, err := b.s.WorkflowPut(b.ctx, store.PutWorkflowParams{TenantID: b.tenant.ID, NewID: id, Def: d1, Hash: hashDef(d1), At: at(time1)})
		noErr(t, err, "PutWorkflow")
		if !created {
			t.Error("PutWorkflow(new) created = false")
		}
		if wf.ID != id || wf.TenantID != b.tenant.ID || wf.Name != "orders" || wf.Version != 1 || !wf.Active {
			t.Errorf("PutWorkflow = %+v, want id %s, version 1, active", wf, id)
		}
		if !reflect.DeepEqual(wf.Def, d1) {
			t.Errorf("PutWorkflow def = %+v, want %+v", wf.Def, d1)
		}
		if !wf.CreatedAt.Equal(at(time1)) || !wf.UpdatedAt.Equal(at(time1)) {
			t.Errorf("PutWorkflow times = %s, %s, want %s", wf.CreatedAt, wf.UpdatedAt, at(time1))
		}
		for _, v := range []int{0, 1} {
			got, err := b.s.WorkflowGet(b.ctx, store.WorkflowGetParams{TenantID: b.tenant.ID, Name: "orders", Version: v})
			noErr(t, err, "GetWorkflow")
			if got.ID != id || got.Version != 1 || !reflect.DeepEqual(got.Def, d1) {
				t.Errorf("GetWorkflow(version %d) = %+v, want version 1", v, got)
			}
		}
		_, err = b.s.WorkflowGet(b.ctx, store.WorkflowGetParams{TenantID: b.tenant.ID, Name: "orders", Version: 2})
		wantErr(t, err, store.ErrNotFound, "GetWorkflow(version 2)")
		_, err = b.s.WorkflowGet(b.ctx, store.WorkflowGetParams{TenantID: b.tenant.ID, Name: "refunds"})
		wantErr(t, err, store.ErrNotFound, "GetWorkflow(unknown)")
	})

	t.Run("PutSameHashIsNoOp", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		first := b.putWorkflow(b.tenant.ID, d1)
		mark, err := b.s.WorkflowChangeMark(b.ctx)
		noErr(t, err, "WorkflowsChangeMark")

		wf, created, err := b.s.WorkflowPut(b.ctx, store.PutWorkflowParams{TenantID: b.tenant.ID, NewID: newID(), Def: d1, Hash: hashDef(d1), At: at(time1)})
		noErr(t, err, "PutWorkflow(same)")
		if created {
			t.Error("PutWorkflow(same hash) created = true")
		}
		if wf.ID != first.ID || wf.Version != 1 {
			t.Errorf("PutWorkflow(same hash) = id %s version %d, want id %s version 1", wf.ID, wf.Version, first.ID)
		}
		if wf.Mark != "" {
			t.Errorf("PutWorkflow(same hash) Mark = %q, want none (nothing changed)", wf.Mark)
		}
		after, err := b.s.WorkflowChangeMark(b.ctx)
		noErr(t, err, "WorkflowsChangeMark")
		if after != mark {
			t.Errorf("WorkflowsChangeMark changed after a no-op put: %q -> %q", mark, after)
		}
	})

	t.Run("PutNewHashCreatesVersion2", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		first := b.putWorkflow(b.tenant.ID, d1)
		before, err := b.s.WorkflowChangeMark(b.ctx)
		noErr(t, err, "WorkflowsChangeMark")
		wf, created, err := b.s.WorkflowPut(b.ctx, store.PutWorkflowParams{TenantID: b.tenant.ID, NewID: newID(), Def: d2, Hash: hashDef(d2), At: at(time1)})
		noErr(t, err, "PutWorkflow(v2)")
		if !created {
			t.Error("PutWorkflow(new hash) created = false")
		}
		// The put reports the change mark it committed, the one after the mark before it.
		after, err := b.s.WorkflowChangeMark(b.ctx)
		noErr(t, err, "WorkflowsChangeMark")
		if n, err := strconv.ParseInt(before, 10, 64); err != nil || wf.Mark != after || wf.Mark != strconv.FormatInt(n+1, 10) {
			t.Errorf("PutWorkflow(new hash) Mark = %q; marks before %q and after %q", wf.Mark, before, after)
		}
		if wf.ID != first.ID || wf.Version != 2 || !reflect.DeepEqual(wf.Def, d2) {
			t.Errorf("PutWorkflow(new hash) = %+v, want id %s version 2 with the new def", wf, first.ID)
		}

		cur, err := b.s.WorkflowGet(b.ctx, store.WorkflowGetParams{TenantID: b.tenant.ID, Name: "orders"})
		noErr(t, err, "GetWorkflow(current)")
		if cur.Version != 2 || !reflect.DeepEqual(cur.Def, d2) {
			t.Errorf("current version = %d %+v, want 2", cur.Version, cur.Def)
		}
		v1, err := b.s.WorkflowGet(b.ctx, store.WorkflowGetParams{TenantID: b.tenant.ID, Name: "orders", Version: 1})
		noErr(t, err, "GetWorkflow(version 1)")
		if v1.Version != 1 || v1.ID != first.ID || !reflect.DeepEqual(v1.Def, d1) {
			t.Errorf("version 1 = %d %+v, want the original definition", v1.Version, v1.Def)
		}
		v2, err := b.s.WorkflowGet(b.ctx, store.WorkflowGetParams{TenantID: b.tenant.ID, Name: "orders", Version: 2})
		noErr(t, err, "GetWorkflow(version 2)")
		if v2.Version != 2 || !reflect.DeepEqual(v2.Def, d2) {
			t.Errorf("version 2 = %d %+v, want the new definition", v2.Version, v2.Def)
		}

		// Putting version 1's definition back makes a third version, not a rollback.
		wf, created, err = b.s.WorkflowPut(b.ctx, store.PutWorkflowParams{TenantID: b.tenant.ID, NewID: newID(), Def: d1, Hash: hashDef(d1), At: at(2 * time1)})
		noErr(t, err, "PutWorkflow(v1 again)")
		if !created || wf.Version != 3 || !reflect.DeepEqual(wf.Def, d1) {
			t.Errorf("PutWorkflow(v1's def again) = created %v version %d, want created version 3", created, wf.Version)
		}

		list, err := b.s.WorkflowList(b.ctx, b.tenant.ID)
		noErr(t, err, "ListWorkflows")
		if len(list) != 1 || list[0].Version != 3 {
			t.Errorf("ListWorkflows = %+v, want one workflow at version 3", list)
		}
	})

	t.Run("SetWorkflowActive", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		b.putWorkflow(b.tenant.ID, d1)

		wf, err := b.s.WorkflowSetActive(b.ctx, store.WorkflowSetActiveParams{TenantID: b.tenant.ID, Name: "orders", Active: false, At: at(time1)})
		noErr(t, err, "SetWorkflowActive(false)")
		if wf.Active || wf.Version != 1 || wf.Name != "orders" {
			t.Errorf("SetWorkflowActive(false) = %+v, want inactive version 1", wf)
		}
		got, err := b.s.WorkflowGet(b.ctx, store.WorkflowGetParams{TenantID: b.tenant.ID, Name: "orders"})
		noErr(t, err, "GetWorkflow")
		if got.Active {
			t.Error("GetWorkflow after disabling: still active")
		}
		all := b.changes("").Workflows
		if len(all) != 1 || all[0].Active {
			t.Errorf("WorkflowChanges(\"\") = %+v, want the inactive workflow listed as inactive", all)
		}

		wf, err = b.s.WorkflowSetActive(b.ctx, store.WorkflowSetActiveParams{TenantID: b.tenant.ID, Name: "orders", Active: true, At: at(2 * time1)})
		noErr(t, err, "SetWorkflowActive(true)")
		if !wf.Active {
			t.Error("SetWorkflowActive(true) returned an inactive workflow")
		}

		_, err = b.s.WorkflowSetActive(b.ctx, store.WorkflowSetActiveParams{TenantID: b.tenant.ID, Name: "refunds", Active: false, At: base})
		wantErr(t, err, store.ErrNotFound, "SetWorkflowActive(unknown)")
		other := b.newTenant("globex")
		_, err = b.s.WorkflowSetActive(b.ctx, store.WorkflowSetActiveParams{TenantID: other.ID, Name: "orders", Active: false, At: base})
		wantErr(t, err, store.ErrNotFound, "SetWorkflowActive(other tenant)")
		got, err = b.s.WorkflowGet(b.ctx, store.WorkflowGetParams{TenantID: b.tenant.ID, Name: "orders"})
		noErr(t, err, "GetWorkflow")
		if !got.Active {
			t.Error("another tenant disabled the workflow")
		}
	})

	t.Run("ChangeMark", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		mark := func() string {
			t.Helper()
			m, err := b.s.WorkflowChangeMark(b.ctx)
			noErr(t, err, "WorkflowsChangeMark")
			return m
		}
		m0 := mark()
		if m := mark(); m != m0 {
			t.Errorf("mark changed without a change: %q -> %q", m0, m)
		}
		b.putWorkflow(b.tenant.ID, d1)
		m1 := mark()
		if m1 == m0 {
			t.Error("mark unchanged after creating a workflow")
		}
		b.putWorkflow(b.tenant.ID, d1)
		if m := mark(); m != m1 {
			t.Errorf("mark changed after a no-op put: %q -> %q", m1, m)
		}
		b.putWorkflow(b.tenant.ID, d2)
		m2 := mark()
		if m2 == m1 {
			t.Error("mark unchanged after a new version")
		}
		if _, err := b.s.WorkflowSetActive(b.ctx, store.WorkflowSetActiveParams{TenantID: b.tenant.ID, Name: "orders", Active: false, At: base}); err != nil {
			t.Fatal(err)
		}
		m3 := mark()
		if m3 == m2 {
			t.Error("mark unchanged after disabling a workflow")
		}
		if _, err := b.s.WorkflowSetActive(b.ctx, store.WorkflowSetActiveParams{TenantID: b.tenant.ID, Name: "orders", Active: true, At: base}); err != nil {
			t.Fatal(err)
		}
		if m := mark(); m == m3 {
			t.Error("mark unchanged after enabling a workflow")
		}
	})

	t.Run("ChangesSinceMark", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("globex")
		b.putWorkflow(b.tenant.ID, d1)
		b.putWorkflow(b.tenant.ID, def("refunds", stepDef("refund")))
		b.putWorkflow(other.ID, def("orders", stepDef("pack")))
		all := b.changes("")
		if m, err := b.s.WorkflowChangeMark(b.ctx); err != nil || all.Mark != m {
			t.Errorf("WorkflowChanges(\"\").Mark = %q, want the change mark %q (err %v)", all.Mark, m, err)
		}
		if len(all.Workflows) != 3 {
			t.Fatalf("WorkflowChanges(\"\") = %d workflows, want 3", len(all.Workflows))
		}
		// changed reads what changed since mark, checks it names exactly want (tenant/name,
		// in order) and returns it.
		changed := func(what, mark string, want ...string) store.WorkflowChangeSet {
			t.Helper()
			cs := b.changes(mark)
			var got []string
			for _, wf := range cs.Workflows {
				name := "acme/" + wf.Name
				if wf.TenantID == other.ID {
					name = "globex/" + wf.Name
				}
				got = append(got, name)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("after %s: WorkflowChanges(%s) = %v, want %v", what, mark, got, want)
			}
			if len(want) > 0 && cs.Mark == mark {
				t.Errorf("after %s: WorkflowChanges(%s).Mark did not move", what, mark)
			}
			return cs
		}
		changed("nothing", all.Mark)
		b.putWorkflow(b.tenant.ID, d1)
		changed("a put of the same definition", all.Mark)

		b.putWorkflow(b.tenant.ID, d2)
		v2 := changed("a new version", all.Mark, "acme/orders")
		if v2.Workflows[0].Version != 2 || v2.Workflows[0].Def.Steps[0].Name != d2.Steps[0].Name {
			t.Errorf("the changed workflow is version %d, want the current version 2", v2.Workflows[0].Version)
		}

		f1 := store.Filter{ID: newID(), TenantID: b.tenant.ID, Workflow: "refunds", Scope: "eu", CreatedAt: at(ms)}
		f2 := store.Filter{ID: newID(), TenantID: b.tenant.ID, Workflow: "refunds", Scope: "us", CreatedAt: at(2 * ms)}
		for _, f := range []store.Filter{f1, f2} {
			if _, err := b.s.FilterCreate(b.ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		withFilters := changed("creating filters", v2.Mark, "acme/refunds")
		if len(withFilters.Filters) != 2 || withFilters.Filters[0].ID != f1.ID || withFilters.Filters[1].ID != f2.ID {
			t.Errorf("WorkflowChanges lists filters %+v, want the workflow's two, oldest first", withFilters.Filters)
		}
		noErr(t, b.s.FilterDelete(b.ctx, store.FilterRef{TenantID: b.tenant.ID, Workflow: "refunds", ID: f1.ID}), "DeleteFilter")
		left := changed("deleting a filter", withFilters.Mark, "acme/refunds")
		if len(left.Filters) != 1 || left.Filters[0].ID != f2.ID {
			t.Errorf("after deleting a filter, WorkflowChanges lists filters %+v, want only the one left", left.Filters)
		}

		if _, err := b.s.WorkflowSetActive(b.ctx, store.WorkflowSetActiveParams{TenantID: other.ID, Name: "orders", Active: false, At: base}); err != nil {
			t.Fatal(err)
		}
		off := changed("disabling a workflow", left.Mark, "globex/orders")
		if off.Workflows[0].Mark != off.Mark {
			t.Errorf("the disabled workflow carries mark %q, want the mark of its change %q", off.Workflows[0].Mark, off.Mark)
		}
		if every := changed("every change", all.Mark, "acme/orders", "acme/refunds", "globex/orders"); every.Workflows[0].Mark != v2.Mark ||
			every.Workflows[1].Mark != left.Mark {
			t.Errorf("workflows carry marks %q and %q, want those of their last changes %q and %q",
				every.Workflows[0].Mark, every.Workflows[1].Mark, v2.Mark, left.Mark)
		}
		if off.Workflows[0].Active || len(off.Filters) != 0 {
			t.Errorf("WorkflowChanges = %+v with filters %+v, want the disabled workflow and no filters", off.Workflows[0], off.Filters)
		}
		changed("nothing more", off.Mark)

		if _, err := b.s.WorkflowChanges(b.ctx, "not a mark"); err == nil {
			t.Error("WorkflowChanges(\"not a mark\") succeeded")
		}
	})

	t.Run("ListAllAcrossTenants", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("globex")
		a1 := b.putWorkflow(b.tenant.ID, d1)
		a2 := b.putWorkflow(b.tenant.ID, def("refunds", stepDef("refund")))
		o1 := b.putWorkflow(other.ID, def("orders", stepDef("pack")))
		a1v2 := b.putWorkflow(b.tenant.ID, d2)

		all := b.changes("").Workflows
		type key struct{ tenant, name string }
		got := map[key]store.Workflow{}
		for _, wf := range all {
			k := key{wf.TenantID, wf.Name}
			if _, dup := got[k]; dup {
				t.Errorf("WorkflowChanges(everything) lists %v twice", k)
			}
			got[k] = wf
		}
		want := map[key]store.Workflow{
			{b.tenant.ID, "orders"}:  a1v2,
			{b.tenant.ID, "refunds"}: a2,
			{other.ID, "orders"}:     o1,
		}
		if len(got) != len(want) {
			t.Errorf("WorkflowChanges(\"\") = %d workflows, want %d", len(got), len(want))
		}
		for k, w := range want {
			g, ok := got[k]
			if !ok {
				t.Errorf("WorkflowChanges(\"\") misses %v", k)
				continue
			}
			if g.ID != w.ID || g.Version != w.Version || !reflect.DeepEqual(g.Def, w.Def) {
				t.Errorf("WorkflowChanges(\"\") %v = id %s version %d, want id %s version %d", k, g.ID, g.Version, w.ID, w.Version)
			}
		}
		if a1.ID != a1v2.ID || o1.ID == a1.ID {
			t.Errorf("workflow ids: acme/orders %s then %s, globex/orders %s", a1.ID, a1v2.ID, o1.ID)
		}

		mine, err := b.s.WorkflowList(b.ctx, b.tenant.ID)
		noErr(t, err, "ListWorkflows")
		if len(mine) != 2 {
			t.Errorf("ListWorkflows(acme) = %d workflows, want 2", len(mine))
		}
		for _, wf := range mine {
			if wf.TenantID != b.tenant.ID {
				t.Errorf("ListWorkflows(acme) returned %s of tenant %s", wf.Name, wf.TenantID)
			}
		}
	})

	t.Run("TenantIsolation", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("globex")
		mine := b.putWorkflow(b.tenant.ID, d1)

		_, err := b.s.WorkflowGet(b.ctx, store.WorkflowGetParams{TenantID: other.ID, Name: "orders"})
		wantErr(t, err, store.ErrNotFound, "GetWorkflow(other tenant's, current)")
		_, err = b.s.WorkflowGet(b.ctx, store.WorkflowGetParams{TenantID: other.ID, Name: "orders", Version: 1})
		wantErr(t, err, store.ErrNotFound, "GetWorkflow(other tenant's, version 1)")
		list, err := b.s.WorkflowList(b.ctx, other.ID)
		noErr(t, err, "ListWorkflows")
		if len(list) != 0 {
			t.Errorf("ListWorkflows(globex) = %+v, want none", list)
		}

		// The same name in another tenant is another workflow, starting at version 1.
		theirs, created, err := b.s.WorkflowPut(b.ctx, store.PutWorkflowParams{TenantID: other.ID, NewID: newID(), Def: d2, Hash: hashDef(d2), At: base})
		noErr(t, err, "PutWorkflow(other tenant)")
		if !created || theirs.Version != 1 || theirs.ID == mine.ID || theirs.TenantID != other.ID {
			t.Errorf("PutWorkflow(other tenant, same name) = created %v %+v, want a new workflow at version 1", created, theirs)
		}
		got, err := b.s.WorkflowGet(b.ctx, store.WorkflowGetParams{TenantID: b.tenant.ID, Name: "orders"})
		noErr(t, err, "GetWorkflow")
		if got.Version != 1 || !reflect.DeepEqual(got.Def, d1) {
			t.Errorf("acme/orders changed by another tenant's put: version %d", got.Version)
		}
	})
}
