package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

func testPrune(t *testing.T, open Opener) {
	b := setup(t, open)
	wf := b.workflow("pay", stepDef("charge"), stepDef("notify", "charge"))
	hook := newWebhook(b.tenant.ID, "stripe")
	noErr(t, b.s.WebhookCreate(b.ctx, hook), "CreateWebhook")

	oldEvents := []*store.Event{newEvent(b.tenant.ID, "pay.x", at(-3*time.Hour)), newEvent(b.tenant.ID, "pay.x", at(-2*time.Hour))}
	newEv := newEvent(b.tenant.ID, "pay.x", at(0))
	oldDone := newRun(wf, oldEvents[0].ID, json.RawMessage(`{}`), at(-3*time.Hour))
	oldRunning := newRun(wf, "", json.RawMessage(`{}`), at(-2*time.Hour))
	newRunning := newRun(wf, newEv.ID, json.RawMessage(`{}`), at(0))
	b.ingest(
		store.IngestItem{Event: oldEvents[0], Runs: []store.IngestRun{oldDone}},
		store.IngestItem{Event: oldEvents[1], Runs: []store.IngestRun{oldRunning}, Delivery: delivery(hook, at(-2*time.Hour), 401)},
		store.IngestItem{Event: newEv, Runs: []store.IngestRun{newRunning}, Delivery: delivery(hook, at(0), 401)},
	)
	_, err := b.s.RunCancel(b.ctx, store.RunCancelParams{TenantID: b.tenant.ID, ID: oldDone.Run.ID, At: at(-3*time.Hour + time1)})
	noErr(t, err, "CancelRun")
	// Another tenant's old event is pruned too.
	other := b.newTenant("globex")
	theirOld := newEvent(other.ID, "pay.x", at(-3*time.Hour))
	b.ingest(store.IngestItem{Event: theirOld})

	tok := newToken(b.tenant.ID, "ui", "s3cret", store.RoleMember)
	noErr(t, b.s.TokenCreate(b.ctx, tok), "CreateToken")
	expired := store.Session{Hash: sessionHash("old"), TenantID: b.tenant.ID, TokenID: tok.ID, CSRF: "c", CreatedAt: at(-2 * time.Hour), ExpiresAt: at(-time.Hour)}
	live := store.Session{Hash: sessionHash("new"), TenantID: b.tenant.ID, TokenID: tok.ID, CSRF: "c", CreatedAt: at(-time.Hour), ExpiresAt: at(time.Hour)}
	noErr(t, b.s.SessionCreate(b.ctx, expired), "CreateSession(expired)")
	noErr(t, b.s.SessionCreate(b.ctx, live), "CreateSession(live)")

	// One row of each kind per call, a tenant's oldest event first.
	p := store.PruneParams{Before: at(-time.Hour), Now: base, Limit: 1}
	r, err := b.s.Prune(b.ctx, p)
	noErr(t, err, "Prune")
	if want := (store.PruneResult{Events: 1, Runs: 1, Deliveries: 1, Sessions: 1}); r != want {
		t.Errorf("Prune #1 = %+v, want %+v", r, want)
	}
	if _, err := b.s.EventGet(b.ctx, b.tenant.ID, oldEvents[1].ID); err != nil {
		t.Errorf("the first batch took a tenant's newer old event before its oldest: %v", err)
	}
	for i := 2; i <= 3; i++ {
		r, err = b.s.Prune(b.ctx, p)
		noErr(t, err, "Prune")
		if want := (store.PruneResult{Events: 1}); r != want {
			t.Errorf("Prune #%d = %+v, want %+v", i, r, want)
		}
	}
	r, err = b.s.Prune(b.ctx, p)
	noErr(t, err, "Prune #4")
	if r.Total() != 0 {
		t.Errorf("Prune #4 = %+v, want nothing left to prune", r)
	}

	for _, ev := range oldEvents {
		_, err := b.s.EventGet(b.ctx, b.tenant.ID, ev.ID)
		wantErr(t, err, store.ErrNotFound, "GetEvent(pruned)")
	}
	_, err = b.s.EventGet(b.ctx, other.ID, theirOld.ID)
	wantErr(t, err, store.ErrNotFound, "GetEvent(another tenant's pruned)")
	_, err = b.s.EventGet(b.ctx, b.tenant.ID, newEv.ID)
	noErr(t, err, "GetEvent(recent)")
	_, _, err = b.s.RunGet(b.ctx, b.tenant.ID, oldDone.Run.ID)
	wantErr(t, err, store.ErrNotFound, "GetRun(pruned)")
	_, err = b.s.RunStepName(b.ctx, store.RunStepNameParams{TenantID: b.tenant.ID, RunID: oldDone.Run.ID, StepRunID: oldDone.Steps[0].ID})
	wantErr(t, err, store.ErrNotFound, "RunStep(step-run of a pruned run)")
	b.wantStatus(oldRunning.Run.ID, store.RunQueued, map[string]string{"charge": store.StepQueued, "notify": store.StepPending})
	b.wantStatus(newRunning.Run.ID, store.RunQueued, nil)
	ds, err := b.s.WebhookDeliveryList(b.ctx, store.DeliveryListParams{TenantID: b.tenant.ID, WebhookID: hook.ID, Filter: store.DeliveryFilter{Limit: 10}})
	noErr(t, err, "ListWebhookDeliveries")
	if len(ds) != 1 || !ds[0].ReceivedAt.Equal(at(0)) {
		t.Errorf("deliveries after pruning = %+v, want only the recent one", ds)
	}
	_, err = b.s.SessionGet(b.ctx, live.Hash, base)
	noErr(t, err, "GetSession(live)")
	// The old queued run's steps are still claimable.
	if a := b.claimOne(at(time1), "pay"); a.RunID != oldRunning.Run.ID && a.RunID != newRunning.Run.ID {
		t.Errorf("claimed step of run %s", a.RunID)
	}
}
