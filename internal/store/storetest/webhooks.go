package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// newWebhook is a Stripe-like webhook of the tenant (its "sealed" secret is opaque bytes
// to the store).
func newWebhook(tenantID, name string) store.Webhook {
	return store.Webhook{
		ID: newID(), TenantID: tenantID, Name: name, Source: "stripe",
		EventKeyExpression: "'stripe:' + input.type", SealedSecret: []byte{1, 0, 0xff, 7, 9},
		CreatedAt: base, UpdatedAt: base,
	}
}

// webhookEvent is an event received by a webhook, with a deduplication id.
func webhookEvent(tenantID, webhook, dedupe string, t time.Time) *store.Event {
	ev := newEvent(tenantID, "stripe:invoice.paid", t)
	ev.Source, ev.Webhook, ev.DedupeID, ev.Scope = store.SourceWebhook, webhook, dedupe, "cus_1"
	return ev
}

// delivery is a delivery record of a webhook at t.
func delivery(w store.Webhook, t time.Time, status int) *store.WebhookDelivery {
	return &store.WebhookDelivery{
		ID: newID(), TenantID: w.TenantID, WebhookID: w.ID, ReceivedAt: t, Verification: store.VerificationFailed,
		Outcome: store.DeliveryRefused, StatusCode: status, Error: "no signature matches", BodyBytes: 42,
	}
}

func testWebhooks(t *testing.T, open Opener) {
	t.Run("CreateGetListUpdateDelete", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("other")
		w := newWebhook(b.tenant.ID, "stripe")
		w.ScopeExpression, w.DedupeExpression = "input.customer", "input.id"
		w.StaticPayload = json.RawMessage(`{"env":"prod","n":1}`)
		noErr(t, b.s.WebhookCreate(b.ctx, w), "CreateWebhook")
		g := newWebhook(b.tenant.ID, "generic")
		g.Source = "generic"
		g.Auth = store.WebhookAuth{Type: "hmac", Header: "X-Signature", Algorithm: "sha512", Encoding: "base64url", Prefix: "sha512="}
		noErr(t, b.s.WebhookCreate(b.ctx, g), "CreateWebhook(generic)")

		got, err := b.s.WebhookGet(b.ctx, b.tenant.ID, "stripe")
		noErr(t, err, "GetWebhook")
		wantWebhook(t, got, w)
		got, err = b.s.WebhookGet(b.ctx, b.tenant.ID, "generic")
		noErr(t, err, "GetWebhook(generic)")
		wantWebhook(t, got, g)

		// Names are unique per tenant, not across tenants.
		wantErr(t, b.s.WebhookCreate(b.ctx, newWebhook(b.tenant.ID, "stripe")), store.ErrConflict, "CreateWebhook(taken name)")
		noErr(t, b.s.WebhookCreate(b.ctx, newWebhook(other.ID, "stripe")), "CreateWebhook(same name, other tenant)")

		list, err := b.s.WebhookList(b.ctx, b.tenant.ID)
		noErr(t, err, "ListWebhooks")
		if len(list) != 2 || list[0].Name != "generic" || list[1].Name != "stripe" {
			t.Errorf("ListWebhooks = %d webhooks %v, want generic, stripe", len(list), names(list))
		}
		_, err = b.s.WebhookGet(b.ctx, other.ID, "generic")
		wantErr(t, err, store.ErrNotFound, "GetWebhook(other tenant)")

		// Update replaces every field but the identity.
		u := w
		u.Source, u.EventKeyExpression, u.ScopeExpression, u.DedupeExpression = "github", "'gh'", "", ""
		u.StaticPayload, u.SealedSecret, u.UpdatedAt = nil, []byte("new sealed"), at(time1)
		u.Auth = store.WebhookAuth{}
		noErr(t, b.s.WebhookUpdate(b.ctx, u), "UpdateWebhook")
		got, err = b.s.WebhookGet(b.ctx, b.tenant.ID, "stripe")
		noErr(t, err, "GetWebhook after update")
		wantWebhook(t, got, u)
		// The other tenant cannot update it, nor can an unknown id.
		x := u
		x.TenantID = other.ID
		wantErr(t, b.s.WebhookUpdate(b.ctx, x), store.ErrNotFound, "UpdateWebhook(other tenant)")
		x = u
		x.ID = newID()
		wantErr(t, b.s.WebhookUpdate(b.ctx, x), store.ErrNotFound, "UpdateWebhook(unknown id)")

		wantErr(t, b.s.WebhookDelete(b.ctx, other.ID, "generic"), store.ErrNotFound, "DeleteWebhook(other tenant)")
		noErr(t, b.s.WebhookDelete(b.ctx, b.tenant.ID, "stripe"), "DeleteWebhook")
		_, err = b.s.WebhookGet(b.ctx, b.tenant.ID, "stripe")
		wantErr(t, err, store.ErrNotFound, "GetWebhook after delete")
		wantErr(t, b.s.WebhookDelete(b.ctx, b.tenant.ID, "stripe"), store.ErrNotFound, "DeleteWebhook twice")
		if _, err := b.s.WebhookGet(b.ctx, other.ID, "stripe"); err != nil {
			t.Errorf("the other tenant's webhook of the same name is gone: %v", err)
		}
		// The name is free again.
		noErr(t, b.s.WebhookCreate(b.ctx, newWebhook(b.tenant.ID, "stripe")), "CreateWebhook(after delete)")
	})

	t.Run("WebhookEventFieldsAndDedupe", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("other")
		w := newWebhook(b.tenant.ID, "stripe")
		noErr(t, b.s.WebhookCreate(b.ctx, w), "CreateWebhook")
		wf := b.workflow("stripe", stepDef("a"))

		ev := webhookEvent(b.tenant.ID, "stripe", "evt_1", base)
		run := newRun(wf, ev.ID, ev.Payload, base)
		ev.Triggers = []store.TriggerDecision{{Workflow: "stripe", Version: 1, RunID: run.Run.ID}}
		d := delivery(w, base, 200)
		d.Verification, d.Outcome, d.Error, d.EventID, d.DedupeID = store.VerificationPassed, store.DeliveryAccepted, "", ev.ID, "evt_1"
		b.ingest(store.IngestItem{Event: ev, Runs: []store.IngestRun{run}, Delivery: d})

		got, err := b.s.EventGet(b.ctx, b.tenant.ID, ev.ID)
		noErr(t, err, "GetEvent")
		if got.Source != store.SourceWebhook || got.Webhook != "stripe" || got.DedupeID != "evt_1" || got.Scope != "cus_1" {
			t.Errorf("GetEvent = source %q webhook %q dedupe %q scope %q, want webhook stripe evt_1 cus_1", got.Source, got.Webhook, got.DedupeID, got.Scope)
		}
		evs, err := b.s.EventList(b.ctx, b.tenant.ID, store.EventFilter{Limit: 10})
		noErr(t, err, "ListEvents")
		if len(evs) != 1 || evs[0].Scope != "cus_1" || evs[0].Webhook != "stripe" {
			t.Errorf("ListEvents = %+v, want the webhook event with its scope", evs)
		}
		found, err := b.s.WebhookGetEvent(b.ctx, store.WebhookGetEventParams{TenantID: b.tenant.ID, Webhook: "stripe", DedupeID: "evt_1"})
		noErr(t, err, "GetWebhookEvent")
		if found.ID != ev.ID || !reflect.DeepEqual(found.Triggers, ev.Triggers) {
			t.Errorf("GetWebhookEvent = %s %+v, want %s %+v", found.ID, found.Triggers, ev.ID, ev.Triggers)
		}
		for _, q := range [][3]string{{other.ID, "stripe", "evt_1"}, {b.tenant.ID, "github", "evt_1"}, {b.tenant.ID, "stripe", "evt_2"}} {
			_, err := b.s.WebhookGetEvent(b.ctx, store.WebhookGetEventParams{TenantID: q[0], Webhook: q[1], DedupeID: q[2]})
			wantErr(t, err, store.ErrNotFound, fmt.Sprintf("GetWebhookEvent(%v)", q))
		}
		ds, err := b.s.WebhookDeliveryList(b.ctx, store.DeliveryListParams{TenantID: b.tenant.ID, WebhookID: w.ID, Filter: store.DeliveryFilter{Limit: 10}})
		noErr(t, err, "ListWebhookDeliveries")
		if len(ds) != 1 || !reflect.DeepEqual(ds[0], *d) {
			t.Errorf("deliveries = %+v, want [%+v]", ds, *d)
		}

		// The same id again: the whole item is refused, delivery record and runs included.
		dup := webhookEvent(b.tenant.ID, "stripe", "evt_1", at(time1))
		dupRun := newRun(wf, dup.ID, dup.Payload, at(time1))
		err = b.s.EventInsert(b.ctx, []store.IngestItem{{Event: dup, Runs: []store.IngestRun{dupRun}, Delivery: delivery(w, at(time1), 200)}})
		wantErr(t, err, store.ErrConflict, "Ingest(repeated dedupe id)")
		_, err = b.s.EventGet(b.ctx, b.tenant.ID, dup.ID)
		wantErr(t, err, store.ErrNotFound, "GetEvent(refused duplicate)")
		_, _, err = b.s.RunGet(b.ctx, b.tenant.ID, dupRun.Run.ID)
		wantErr(t, err, store.ErrNotFound, "GetRun(run of the refused duplicate)")
		if ds, _ := b.s.WebhookDeliveryList(b.ctx, store.DeliveryListParams{TenantID: b.tenant.ID, WebhookID: w.ID, Filter: store.DeliveryFilter{Limit: 10}}); len(ds) != 1 {
			t.Errorf("deliveries after the refused duplicate = %d, want 1", len(ds))
		}

		// The id is unique per tenant and webhook only; events without one never conflict.
		b.ingest(
			store.IngestItem{Event: webhookEvent(b.tenant.ID, "github", "evt_1", at(time1))},
			store.IngestItem{Event: webhookEvent(other.ID, "stripe", "evt_1", at(time1))},
			store.IngestItem{Event: webhookEvent(b.tenant.ID, "stripe", "", at(time1))},
			store.IngestItem{Event: webhookEvent(b.tenant.ID, "stripe", "", at(time1))},
		)
	})

	t.Run("ConcurrentDuplicatesCommitOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = b.s.EventInsert(b.ctx, []store.IngestItem{{Event: webhookEvent(b.tenant.ID, "stripe", "evt_race", base)}})
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			default:
				wantErr(t, err, store.ErrConflict, "concurrent Ingest of a duplicate")
			}
		}
		if ok != 1 {
			t.Errorf("%d of %d concurrent deliveries with one id committed, want 1", ok, n)
		}
	})

	t.Run("DeliveryLogPagesAndPrunes", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("other")
		w := newWebhook(b.tenant.ID, "stripe")
		noErr(t, b.s.WebhookCreate(b.ctx, w), "CreateWebhook")
		ow := newWebhook(other.ID, "stripe")
		noErr(t, b.s.WebhookCreate(b.ctx, ow), "CreateWebhook(other)")

		var ids []string // oldest first
		for i := range 7 {
			d := delivery(w, at(time.Duration(i)*time.Second), 401)
			b.ingest(store.IngestItem{Delivery: d})
			ids = append(ids, d.ID)
		}
		b.ingest(store.IngestItem{Delivery: delivery(ow, base, 401)})

		page1, err := b.s.WebhookDeliveryList(b.ctx, store.DeliveryListParams{TenantID: b.tenant.ID, WebhookID: w.ID, Filter: store.DeliveryFilter{Limit: 4}})
		noErr(t, err, "ListWebhookDeliveries")
		page2, err := b.s.WebhookDeliveryList(b.ctx, store.DeliveryListParams{TenantID: b.tenant.ID, WebhookID: w.ID, Filter: store.DeliveryFilter{Limit: 4, Before: page1[len(page1)-1].ID}})
		noErr(t, err, "ListWebhookDeliveries(page 2)")
		var got []string
		for _, d := range append(page1, page2...) {
			got = append(got, d.ID)
		}
		want := []string{ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("deliveries = %v, want newest first %v", got, want)
		}
		if ds, _ := b.s.WebhookDeliveryList(b.ctx, store.DeliveryListParams{TenantID: other.ID, WebhookID: w.ID, Filter: store.DeliveryFilter{Limit: 10}}); len(ds) != 0 {
			t.Errorf("another tenant sees %d of the webhook's deliveries", len(ds))
		}

		n, err := b.s.WebhookDeliveryPrune(b.ctx, store.DeliveryPruneParams{TenantID: b.tenant.ID, WebhookID: w.ID, Keep: 3})
		noErr(t, err, "PruneWebhookDeliveries")
		if n != 4 {
			t.Errorf("pruned %d, want 4", n)
		}
		left, _ := b.s.WebhookDeliveryList(b.ctx, store.DeliveryListParams{TenantID: b.tenant.ID, WebhookID: w.ID, Filter: store.DeliveryFilter{Limit: 10}})
		if len(left) != 3 || left[0].ID != ids[6] || left[2].ID != ids[4] {
			t.Errorf("after pruning to 3: %d left", len(left))
		}
		if n, err := b.s.WebhookDeliveryPrune(b.ctx, store.DeliveryPruneParams{TenantID: b.tenant.ID, WebhookID: w.ID, Keep: 3}); err != nil || n != 0 {
			t.Errorf("pruning again = %d, %v, want 0", n, err)
		}
		if ds, _ := b.s.WebhookDeliveryList(b.ctx, store.DeliveryListParams{TenantID: other.ID, WebhookID: ow.ID, Filter: store.DeliveryFilter{Limit: 10}}); len(ds) != 1 {
			t.Errorf("pruning one webhook touched another's log: %d left", len(ds))
		}

		// Deleting the webhook deletes its log.
		noErr(t, b.s.WebhookDelete(b.ctx, b.tenant.ID, "stripe"), "DeleteWebhook")
		if ds, _ := b.s.WebhookDeliveryList(b.ctx, store.DeliveryListParams{TenantID: b.tenant.ID, WebhookID: w.ID, Filter: store.DeliveryFilter{Limit: 10}}); len(ds) != 0 {
			t.Errorf("deleted webhook still has %d deliveries", len(ds))
		}
	})
}

func names(ws []store.Webhook) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Name)
	}
	return out
}

// wantWebhook compares a stored webhook with the one written.
func wantWebhook(t *testing.T, got, want store.Webhook) {
	t.Helper()
	if got.ID != want.ID || got.TenantID != want.TenantID || got.Name != want.Name || got.Source != want.Source ||
		got.EventKeyExpression != want.EventKeyExpression || got.ScopeExpression != want.ScopeExpression ||
		got.DedupeExpression != want.DedupeExpression || got.Auth != want.Auth || !bytes.Equal(got.SealedSecret, want.SealedSecret) ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("webhook = %+v, want %+v", got, want)
	}
	if len(want.StaticPayload) == 0 {
		if len(got.StaticPayload) != 0 {
			t.Errorf("static payload = %s, want none", got.StaticPayload)
		}
		return
	}
	jsonEq(t, got.StaticPayload, want.StaticPayload, "static payload")
}
