package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

func testIdempotency(t *testing.T, open Opener) {
	t.Run("LiveKeyConflictsAndStoresNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		ev := newEvent(b.tenant.ID, "orders.created", base)
		run := newRun(wf, ev.ID, ev.Payload, base)
		ev.Triggers = []store.TriggerDecision{{Workflow: "orders", Version: 1, RunID: run.Run.ID}}
		b.ingest(store.IngestItem{Event: ev, Runs: []store.IngestRun{run}, IdempotencyKey: "k1", IdempotencyExpiresAt: at(time.Hour)})

		got, err := b.s.EventGetIdempotent(b.ctx, store.IdempotencyParams{TenantID: b.tenant.ID, Key: "k1", At: at(time.Minute)})
		noErr(t, err, "GetIdempotentEvent")
		if got.ID != ev.ID || len(got.Triggers) != 1 || got.Triggers[0].RunID != run.Run.ID {
			t.Errorf("GetIdempotentEvent = %+v, want event %s with its run", got, ev.ID)
		}

		// A second claim of the live key fails, and nothing of its item is stored.
		ev2 := newEvent(b.tenant.ID, "orders.created", at(time.Minute))
		run2 := newRun(wf, ev2.ID, ev2.Payload, at(time.Minute))
		err = b.s.EventInsert(b.ctx, []store.IngestItem{{Event: ev2, Runs: []store.IngestRun{run2}, IdempotencyKey: "k1", IdempotencyExpiresAt: at(time.Hour + time.Minute)}})
		wantErr(t, err, store.ErrConflict, "Ingest(live idempotency key)")
		_, err = b.s.EventGet(b.ctx, b.tenant.ID, ev2.ID)
		wantErr(t, err, store.ErrNotFound, "GetEvent(refused event)")
		_, _, err = b.s.RunGet(b.ctx, b.tenant.ID, run2.Run.ID)
		wantErr(t, err, store.ErrNotFound, "GetRun(refused run)")

		// Keys are per tenant, and unknown keys are not found.
		other := b.newTenant("other")
		b.ingest(store.IngestItem{Event: newEvent(other.ID, "orders.created", base), IdempotencyKey: "k1", IdempotencyExpiresAt: at(time.Hour)})
		_, err = b.s.EventGetIdempotent(b.ctx, store.IdempotencyParams{TenantID: b.tenant.ID, Key: "nope", At: base})
		wantErr(t, err, store.ErrNotFound, "GetIdempotentEvent(unknown key)")
	})

	t.Run("ExpiredKeyIsTakenOver", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		ev := newEvent(b.tenant.ID, "k", base)
		b.ingest(store.IngestItem{Event: ev, IdempotencyKey: "k1", IdempotencyExpiresAt: at(time.Hour)})
		_, err := b.s.EventGetIdempotent(b.ctx, store.IdempotencyParams{TenantID: b.tenant.ID, Key: "k1", At: at(time.Hour)})
		wantErr(t, err, store.ErrNotFound, "GetIdempotentEvent(at expiry)")

		ev2 := newEvent(b.tenant.ID, "k", at(time.Hour))
		b.ingest(store.IngestItem{Event: ev2, IdempotencyKey: "k1", IdempotencyExpiresAt: at(2 * time.Hour)})
		got, err := b.s.EventGetIdempotent(b.ctx, store.IdempotencyParams{TenantID: b.tenant.ID, Key: "k1", At: at(time.Hour + time.Minute)})
		noErr(t, err, "GetIdempotentEvent(after take-over)")
		if got.ID != ev2.ID {
			t.Errorf("GetIdempotentEvent = %s, want the new event %s", got.ID, ev2.ID)
		}
	})

	t.Run("PruneDeletesExpiredKeys", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		b.ingest(store.IngestItem{Event: newEvent(b.tenant.ID, "k", base), IdempotencyKey: "old", IdempotencyExpiresAt: at(time.Hour)})
		b.ingest(store.IngestItem{Event: newEvent(b.tenant.ID, "k", base), IdempotencyKey: "live", IdempotencyExpiresAt: at(2 * time.Hour)})
		r, err := b.s.Prune(b.ctx, store.PruneParams{Before: base, Now: at(time.Hour), Limit: 10})
		noErr(t, err, "Prune")
		if r.IdempotencyKeys != 1 || r.Events != 0 {
			t.Errorf("Prune = %+v, want one idempotency key and no event", r)
		}
		_, err = b.s.EventGetIdempotent(b.ctx, store.IdempotencyParams{TenantID: b.tenant.ID, Key: "live", At: at(time.Hour)})
		noErr(t, err, "GetIdempotentEvent(live key after prune)")
	})

	t.Run("ConcurrentClaimsHaveOneWinner", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		const n = 8
		errs := make([]error, n)
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			ev := newEvent(b.tenant.ID, "orders.created", base)
			ids[i] = ev.ID
			run := newRun(wf, ev.ID, ev.Payload, base)
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = b.s.EventInsert(b.ctx, []store.IngestItem{{Event: ev, Runs: []store.IngestRun{run}, IdempotencyKey: "race", IdempotencyExpiresAt: at(time.Hour)}})
			}()
		}
		wg.Wait()
		winners := 0
		var winner string
		for i, err := range errs {
			if err == nil {
				winners++
				winner = ids[i]
				continue
			}
			wantErr(t, err, store.ErrConflict, fmt.Sprintf("Ingest %d", i))
		}
		if winners != 1 {
			t.Fatalf("%d concurrent claims succeeded, want 1", winners)
		}
		got, err := b.s.EventGetIdempotent(b.ctx, store.IdempotencyParams{TenantID: b.tenant.ID, Key: "race", At: base})
		noErr(t, err, "GetIdempotentEvent")
		if got.ID != winner {
			t.Errorf("key holds %s, want the winner %s", got.ID, winner)
		}
	})
}
