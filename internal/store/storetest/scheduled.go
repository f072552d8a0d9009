package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// schedule stores ev delayed until deliverAt (with an idempotency key when key is set).
func (b *bundle) schedule(ev *store.Event, deliverAt time.Time, key string) {
	b.t.Helper()
	it := store.IngestItem{Event: ev, DeliverAt: deliverAt}
	if key != "" {
		it.IdempotencyKey, it.IdempotencyExpiresAt = key, deliverAt.Add(time.Hour)
	}
	b.ingest(it)
}

// deliverScheduled is the item that delivers the scheduled event ev at t, with one run of wf.
func deliverScheduled(ev *store.Event, wf store.Workflow, t time.Time) (store.IngestItem, store.IngestRun) {
	d := *ev
	d.CreatedAt = t
	run := newRun(wf, d.ID, d.Payload, t)
	d.Triggers = []store.TriggerDecision{{Workflow: wf.Name, Version: wf.Version, RunID: run.Run.ID}}
	return store.IngestItem{Event: &d, Runs: []store.IngestRun{run}, ScheduledID: ev.ID}, run
}

// claimScheduled claims delayed events at now until until (see store.DeliveryClaim).
func (b *bundle) claimScheduled(now, until time.Time, limit int, retried bool) ([]store.ScheduledEvent, error) {
	return b.s.ScheduledClaim(b.ctx, store.DeliveryClaim{Now: now, Until: until, Limit: limit, Retried: retried})
}

// claimedIDs returns the ids and attempts of claimed events, as "id:attempts".
func claimedIDs(evs []store.ScheduledEvent) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s:%d", e.ID, e.Attempts))
	}
	return out
}

func testScheduled(t *testing.T, open Opener) {
	t.Run("ScheduleClaimDeliverOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		ev := newEvent(b.tenant.ID, "orders.created", base)
		ev.Metadata = json.RawMessage(`{"region":"eu"}`)
		due := at(time.Hour)
		b.schedule(ev, due, "order-1")

		// Stored as scheduled, not as an event; its idempotency key is held.
		_, err := b.s.EventGet(b.ctx, b.tenant.ID, ev.ID)
		wantErr(t, err, store.ErrNotFound, "GetEvent(scheduled)")
		got, err := b.s.ScheduledGet(b.ctx, b.tenant.ID, ev.ID)
		noErr(t, err, "GetScheduled")
		if got.Status != store.ScheduledPending || !got.DeliverAt.Equal(due) || !got.CreatedAt.Equal(base) || got.Key != ev.Key ||
			got.IdempotencyKey != "order-1" || got.Source != store.SourceAPI {
			t.Errorf("GetScheduled = %+v", got)
		}
		jsonEq(t, got.Metadata, ev.Metadata, "metadata")
		jsonEq(t, got.Payload, ev.Payload, "payload")
		idem, err := b.s.ScheduledGetIdempotent(b.ctx, store.IdempotencyParams{TenantID: b.tenant.ID, Key: "order-1", At: at(time.Minute)})
		noErr(t, err, "GetIdempotentScheduled")
		if idem.ID != ev.ID {
			t.Errorf("GetIdempotentScheduled = %s, want %s", idem.ID, ev.ID)
		}
		_, err = b.s.EventGetIdempotent(b.ctx, store.IdempotencyParams{TenantID: b.tenant.ID, Key: "order-1", At: at(time.Minute)})
		wantErr(t, err, store.ErrNotFound, "GetIdempotentEvent(scheduled)")
		// A second claim of the key conflicts, scheduled or not.
		err = b.s.EventInsert(b.ctx, []store.IngestItem{{Event: newEvent(b.tenant.ID, "orders.created", at(time.Minute)),
			IdempotencyKey: "order-1", IdempotencyExpiresAt: at(2 * time.Hour), DeliverAt: at(2 * time.Hour)}})
		wantErr(t, err, store.ErrConflict, "Ingest(scheduled, live key)")

		next, ok, err := b.s.ScheduledNext(b.ctx, base)
		noErr(t, err, "NextScheduled")
		if !ok || !next.Equal(due) {
			t.Errorf("NextScheduled = %s, %v; want %s", next, ok, due)
		}
		if _, ok, _ := b.s.ScheduledNext(b.ctx, due); ok {
			t.Errorf("NextScheduled(after due) found one")
		}

		// Not due: nothing to claim. Due: claimed once until the claim ends.
		cl, err := b.claimScheduled(due.Add(-ms), due.Add(time.Minute), 10, false)
		noErr(t, err, "ClaimScheduled(early)")
		if len(cl) != 0 {
			t.Fatalf("ClaimScheduled(early) = %d events", len(cl))
		}
		cl, err = b.claimScheduled(due, due.Add(10*time.Second), 10, false)
		noErr(t, err, "ClaimScheduled")
		if len(cl) != 1 || cl[0].ID != ev.ID {
			t.Fatalf("ClaimScheduled = %+v, want the event", cl)
		}
		cl, err = b.claimScheduled(due.Add(time.Second), due.Add(time.Minute), 10, true)
		noErr(t, err, "ClaimScheduled(claimed)")
		if len(cl) != 0 {
			t.Errorf("ClaimScheduled while claimed = %d events", len(cl))
		}
		cl, err = b.claimScheduled(due.Add(10*time.Second), due.Add(time.Minute), 10, true)
		noErr(t, err, "ClaimScheduled(claim ended)")
		if len(cl) != 1 {
			t.Errorf("ClaimScheduled after the claim ended = %d events, want 1", len(cl))
		}

		// Delivery: the event with its run, in the transaction that deletes the row.
		item, run := deliverScheduled(ev, wf, due.Add(ms))
		b.ingest(item)
		gotEv, err := b.s.EventGet(b.ctx, b.tenant.ID, ev.ID)
		noErr(t, err, "GetEvent(delivered)")
		if len(gotEv.Triggers) != 1 || !gotEv.CreatedAt.Equal(due.Add(ms)) {
			t.Errorf("delivered event = %+v", gotEv)
		}
		_, err = b.s.ScheduledGet(b.ctx, b.tenant.ID, ev.ID)
		wantErr(t, err, store.ErrNotFound, "GetScheduled(delivered)")
		idemEv, err := b.s.EventGetIdempotent(b.ctx, store.IdempotencyParams{TenantID: b.tenant.ID, Key: "order-1", At: due.Add(time.Minute)})
		noErr(t, err, "GetIdempotentEvent(delivered)")
		if idemEv.ID != ev.ID {
			t.Errorf("GetIdempotentEvent = %s, want %s", idemEv.ID, ev.ID)
		}
		b.getRun(run.Run.ID)

		// A second delivery conflicts and stores nothing.
		again, run2 := deliverScheduled(ev, wf, due.Add(2*ms))
		again.Event.ID = newID() // even under another event id
		again.Runs[0].Run.EventID = again.Event.ID
		err = b.s.EventInsert(b.ctx, []store.IngestItem{again})
		wantErr(t, err, store.ErrConflict, "Ingest(second delivery)")
		_, _, err = b.s.RunGet(b.ctx, b.tenant.ID, run2.Run.ID)
		wantErr(t, err, store.ErrNotFound, "GetRun(second delivery)")
		_, err = b.s.EventGet(b.ctx, b.tenant.ID, again.Event.ID)
		wantErr(t, err, store.ErrNotFound, "GetEvent(second delivery)")
		_, err = b.s.ScheduledCancel(b.ctx, store.ScheduledCancelParams{TenantID: b.tenant.ID, ID: ev.ID, At: due.Add(time.Minute)})
		wantErr(t, err, store.ErrConflict, "CancelScheduled(delivered)")
	})

	t.Run("ClaimsCountAttempts", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		var evs []*store.Event
		for i := 0; i < 3; i++ {
			ev := newEvent(b.tenant.ID, "orders.created", base)
			b.schedule(ev, at(time.Hour+time.Duration(i)*time.Minute), "")
			evs = append(evs, ev)
		}
		id := func(i, attempts int) string { return fmt.Sprintf("%s:%d", evs[i].ID, attempts) }
		claim := func(now time.Time, limit int, retried bool, want ...string) {
			t.Helper()
			cl, err := b.claimScheduled(now, now.Add(10*time.Second), limit, retried)
			noErr(t, err, "ClaimScheduled")
			if got := claimedIDs(cl); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("ClaimScheduled(%s, limit %d, retried %v) = %v, want %v", now.Sub(base), limit, retried, got, want)
			}
		}
		attempts := func(i int) int {
			t.Helper()
			got, err := b.s.ScheduledGet(b.ctx, b.tenant.ID, evs[i].ID)
			noErr(t, err, "GetScheduled")
			return got.Attempts
		}
		if n := attempts(0); n != 0 {
			t.Errorf("attempts before any claim = %d", n)
		}

		// The first claim counts one attempt on each event it takes, in the claim.
		t0 := at(time.Hour + 2*time.Minute)
		claim(t0, 10, true)                                // none was claimed before
		claim(t0, 10, false, id(0, 1), id(1, 1), id(2, 1)) // earliest first
		claim(t0.Add(time.Second), 10, false)              // claimed
		claim(t0.Add(time.Second), 10, true)               // claimed
		if n := attempts(1); n != 1 {
			t.Errorf("attempts after one claim = %d, want 1", n)
		}

		// Their claims ended without a delivery: they are retried, no longer new, and
		// each claim counts one more attempt.
		t1 := t0.Add(10 * time.Second)
		claim(t1, 10, false)
		claim(t1, 1, true, id(0, 2))
		claim(t1, 1, true, id(1, 2))
		// A claim given back (the engine abandoned the delivery, say while shutting
		// down) no longer counts; the claim itself stays.
		noErr(t, b.s.ScheduledRelease(b.ctx, []string{evs[1].ID, evs[2].ID}), "ReleaseScheduled")
		if a, c := attempts(1), attempts(2); a != 1 || c != 0 {
			t.Errorf("attempts after release = %d, %d; want 1, 0", a, c)
		}
		claim(t1, 10, true) // evs[1] is still claimed, evs[2] is new again
		claim(t1, 10, false, id(2, 1))

		// Claimed again and again, the count goes on.
		for n := 3; n <= 7; n++ {
			claim(t1.Add(time.Duration(n)*10*time.Second), 1, true, id(0, n))
		}

		// Failing a claimed event keeps its count; it is not claimed, delivered or
		// released any more.
		noErr(t, b.s.ScheduledFail(b.ctx, store.ScheduledFailParams{ID: evs[0].ID, Reason: "delivery was attempted 6 times", At: t1.Add(time.Minute)}), "FailScheduled")
		got, err := b.s.ScheduledGet(b.ctx, b.tenant.ID, evs[0].ID)
		noErr(t, err, "GetScheduled(failed)")
		if got.Status != store.ScheduledFailed || got.Error != "delivery was attempted 6 times" || got.Attempts != 7 {
			t.Errorf("failed event = %s %q, %d attempts", got.Status, got.Error, got.Attempts)
		}
		noErr(t, b.s.ScheduledRelease(b.ctx, []string{evs[0].ID}), "ReleaseScheduled(failed)")
		if n := attempts(0); n != 7 {
			t.Errorf("release changed a failed event's attempts to %d", n)
		}
		later := t1.Add(time.Hour)
		claim(later, 10, true, id(1, 2), id(2, 2))
		item, _ := deliverScheduled(evs[0], wf, later)
		wantErr(t, b.s.EventInsert(b.ctx, []store.IngestItem{item}), store.ErrConflict, "Ingest(delivery of a failed event)")

		// A retried event is delivered like any other.
		item, run := deliverScheduled(evs[1], wf, later)
		b.ingest(item)
		b.getRun(run.Run.ID)
		_, err = b.s.ScheduledGet(b.ctx, b.tenant.ID, evs[1].ID)
		wantErr(t, err, store.ErrNotFound, "GetScheduled(delivered)")
	})

	t.Run("Cancel", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		other := b.newTenant("globex")
		ev := newEvent(b.tenant.ID, "orders.created", base)
		b.schedule(ev, at(time.Hour), "")

		_, err := b.s.ScheduledCancel(b.ctx, store.ScheduledCancelParams{TenantID: other.ID, ID: ev.ID, At: at(time.Minute)})
		wantErr(t, err, store.ErrNotFound, "CancelScheduled(other tenant)")
		_, err = b.s.ScheduledCancel(b.ctx, store.ScheduledCancelParams{TenantID: b.tenant.ID, ID: newID(), At: at(time.Minute)})
		wantErr(t, err, store.ErrNotFound, "CancelScheduled(unknown)")
		// Not a UUID: names nothing (PostgreSQL's uuid column refused it with an error).
		_, err = b.s.ScheduledCancel(b.ctx, store.ScheduledCancelParams{TenantID: b.tenant.ID, ID: "0", At: at(time.Minute)})
		wantErr(t, err, store.ErrNotFound, "CancelScheduled(not a UUID)")
		_, err = b.s.ScheduledGet(b.ctx, b.tenant.ID, "0")
		wantErr(t, err, store.ErrNotFound, "GetScheduled(not a UUID)")
		got, err := b.s.ScheduledCancel(b.ctx, store.ScheduledCancelParams{TenantID: b.tenant.ID, ID: ev.ID, At: at(time.Minute)})
		noErr(t, err, "CancelScheduled")
		if got.Status != store.ScheduledCancelled || got.EndedAt == nil || !got.EndedAt.Equal(at(time.Minute)) {
			t.Errorf("CancelScheduled = %+v", got)
		}
		_, err = b.s.ScheduledCancel(b.ctx, store.ScheduledCancelParams{TenantID: b.tenant.ID, ID: ev.ID, At: at(2 * time.Minute)})
		wantErr(t, err, store.ErrConflict, "CancelScheduled(again)")

		// Neither claimed nor deliverable, nor next.
		cl, err := b.claimScheduled(at(2*time.Hour), at(3*time.Hour), 10, false)
		noErr(t, err, "ClaimScheduled")
		if len(cl) != 0 {
			t.Errorf("ClaimScheduled returned a cancelled event")
		}
		if _, ok, _ := b.s.ScheduledNext(b.ctx, base); ok {
			t.Errorf("NextScheduled found a cancelled event")
		}
		item, run := deliverScheduled(ev, wf, at(time.Hour))
		err = b.s.EventInsert(b.ctx, []store.IngestItem{item})
		wantErr(t, err, store.ErrConflict, "Ingest(delivery of a cancelled event)")
		_, _, err = b.s.RunGet(b.ctx, b.tenant.ID, run.Run.ID)
		wantErr(t, err, store.ErrNotFound, "GetRun(cancelled delivery)")
		got, err = b.s.ScheduledGet(b.ctx, b.tenant.ID, ev.ID)
		noErr(t, err, "GetScheduled(cancelled)")
		if got.Status != store.ScheduledCancelled {
			t.Errorf("status = %s, want cancelled", got.Status)
		}
		_, err = b.s.ScheduledGet(b.ctx, other.ID, ev.ID)
		wantErr(t, err, store.ErrNotFound, "GetScheduled(other tenant)")
	})

	t.Run("FailListAndPrune", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("globex")
		var ids []string // oldest first
		for i, key := range []string{"orders.created", "orders.paid", "users.created", "orders.created", "orders.created"} {
			ev := newEvent(b.tenant.ID, key, at(time.Duration(i)*time.Minute))
			ev.Metadata = json.RawMessage(fmt.Sprintf(`{"n":%d,"even":%v}`, i, i%2 == 0))
			b.schedule(ev, at(time.Hour+time.Duration(i)*time.Minute), "")
			ids = append(ids, ev.ID)
		}
		b.schedule(newEvent(other.ID, "orders.created", base), at(time.Hour), "")
		_, err := b.s.ScheduledCancel(b.ctx, store.ScheduledCancelParams{TenantID: b.tenant.ID, ID: ids[3], At: at(10 * time.Minute)})
		noErr(t, err, "CancelScheduled")
		noErr(t, b.s.ScheduledFail(b.ctx, store.ScheduledFailParams{ID: ids[4], Reason: "payload: does not conform", At: at(20 * time.Minute)}), "FailScheduled")
		failed, err := b.s.ScheduledGet(b.ctx, b.tenant.ID, ids[4])
		noErr(t, err, "GetScheduled(failed)")
		if failed.Status != store.ScheduledFailed || failed.Error != "payload: does not conform" {
			t.Errorf("failed = %+v", failed)
		}

		list := func(status string, f store.EventFilter) []string {
			t.Helper()
			if f.Limit == 0 {
				f.Limit = 100
			}
			evs, err := b.s.ScheduledList(b.ctx, store.ScheduledListParams{TenantID: b.tenant.ID, Status: status, Filter: f})
			noErr(t, err, "ListScheduled")
			out := []string{}
			for _, e := range evs {
				if e.Status != status {
					t.Errorf("listed %s with status %s", e.ID, e.Status)
				}
				out = append(out, e.ID)
			}
			return out
		}
		want := func(idx ...int) []string {
			out := []string{}
			for _, i := range idx {
				out = append(out, ids[i])
			}
			return out
		}
		cases := []struct {
			name   string
			status string
			f      store.EventFilter
			want   []string
		}{
			{"scheduled", store.ScheduledPending, store.EventFilter{}, want(2, 1, 0)},
			{"cancelled", store.ScheduledCancelled, store.EventFilter{}, want(3)},
			{"failed", store.ScheduledFailed, store.EventFilter{}, want(4)},
			{"key", store.ScheduledPending, store.EventFilter{Key: "orders.created"}, want(0)},
			{"prefix", store.ScheduledPending, store.EventFilter{KeyPrefix: "orders."}, want(1, 0)},
			{"metadata", store.ScheduledPending, store.EventFilter{Metadata: map[string]string{"even": "true"}}, want(2, 0)},
			{"since", store.ScheduledPending, store.EventFilter{Since: at(time.Minute)}, want(2, 1)},
			{"until", store.ScheduledPending, store.EventFilter{Until: at(time.Minute)}, want(0)},
			{"page 1", store.ScheduledPending, store.EventFilter{Limit: 2}, want(2, 1)},
			{"page 2", store.ScheduledPending, store.EventFilter{Limit: 2, Before: ids[1]}, want(0)},
		}
		for _, c := range cases {
			if got := list(c.status, c.f); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("%s: listed %v, want %v", c.name, got, c.want)
			}
		}

		// Pruning deletes ended rows only, that ended and were due before the cutoff.
		n, err := b.s.ScheduledPrune(b.ctx, at(time.Hour), 100)
		noErr(t, err, "PruneScheduled")
		if n != 0 {
			t.Errorf("PruneScheduled(before they were due) = %d, want 0", n)
		}
		n, err = b.s.ScheduledPrune(b.ctx, at(time.Hour+4*time.Minute), 100)
		noErr(t, err, "PruneScheduled")
		if n != 1 {
			t.Errorf("PruneScheduled = %d, want 1 (the cancelled one, due at 1h3m)", n)
		}
		n, err = b.s.ScheduledPrune(b.ctx, at(2*time.Hour), 100)
		noErr(t, err, "PruneScheduled")
		if n != 1 {
			t.Errorf("PruneScheduled = %d, want 1 (the failed one)", n)
		}
		if got := list(store.ScheduledPending, store.EventFilter{}); len(got) != 3 {
			t.Errorf("pruning deleted scheduled events: %v left", got)
		}
	})

	t.Run("ConcurrentDeliveriesCommitOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		wf := b.workflow("orders", stepDef("a"))
		const n = 5
		var evs []*store.Event
		for i := 0; i < n; i++ {
			ev := newEvent(b.tenant.ID, "orders.created", base)
			b.schedule(ev, at(time.Minute), "")
			evs = append(evs, ev)
		}
		// Two deliverers race for each event; one also cancels it.
		var wg sync.WaitGroup
		results := make([][3]error, n)
		for i, ev := range evs {
			for j := 0; j < 2; j++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					item, _ := deliverScheduled(ev, wf, at(time.Minute))
					results[i][j] = b.s.EventInsert(b.ctx, []store.IngestItem{item})
				}()
			}
			if i%2 == 0 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, results[i][2] = b.s.ScheduledCancel(b.ctx, store.ScheduledCancelParams{TenantID: b.tenant.ID, ID: ev.ID, At: at(time.Minute)})
				}()
			}
		}
		wg.Wait()
		for i, ev := range evs {
			tries := results[i][:2]
			if i%2 == 0 {
				tries = results[i][:3]
			}
			ok := 0
			for _, err := range tries {
				if err == nil {
					ok++
				} else {
					wantErr(t, err, store.ErrConflict, "racing delivery or cancel")
				}
			}
			if ok != 1 {
				t.Errorf("event %d: %d of the racing deliveries and cancel succeeded, want exactly 1", i, ok)
			}
			runs, err := b.s.RunList(b.ctx, b.tenant.ID, store.RunFilter{EventID: ev.ID, Limit: 10})
			noErr(t, err, "ListRuns")
			_, gerr := b.s.EventGet(b.ctx, b.tenant.ID, ev.ID)
			delivered := gerr == nil
			if delivered && len(runs) != 1 || !delivered && len(runs) != 0 {
				t.Errorf("event %d: delivered %v with %d runs", i, delivered, len(runs))
			}
			if s, err := b.s.ScheduledGet(b.ctx, b.tenant.ID, ev.ID); delivered == (err == nil) {
				t.Errorf("event %d: delivered %v but scheduled row %+v, %v", i, delivered, s, err)
			}
		}
	})
}

func testSearch(t *testing.T, open Opener) {
	t.Run("EventsByWorkflowRunsByMetadataAndTime", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		orders := b.workflow("orders", stepDef("a"))
		audit := b.workflow("audit", stepDef("a"))
		other := b.newTenant("globex")
		otherWf := b.putWorkflow(other.ID, def("orders", stepDef("a")))

		// Event i at base+i minutes, with metadata {"user":"u<i%3>","n":i}; every event
		// starts an orders run, even ones an audit run too.
		var evIDs, orderRuns, auditRuns []string
		for i := 0; i < 9; i++ {
			t0 := at(time.Duration(i) * time.Minute)
			ev := newEvent(b.tenant.ID, "orders.created", t0)
			ev.Metadata = json.RawMessage(fmt.Sprintf(`{"user":"u%d","n":%d}`, i%3, i))
			r1 := newRun(orders, ev.ID, ev.Payload, t0)
			runs := []store.IngestRun{r1}
			orderRuns = append(orderRuns, r1.Run.ID)
			if i%2 == 0 {
				r2 := newRun(audit, ev.ID, ev.Payload, t0)
				runs = append(runs, r2)
				auditRuns = append(auditRuns, r2.Run.ID)
			}
			b.ingest(store.IngestItem{Event: ev, Runs: runs})
			evIDs = append(evIDs, ev.ID)
		}
		oev := newEvent(other.ID, "orders.created", base)
		oev.Metadata = json.RawMessage(`{"user":"u0"}`)
		b.ingest(store.IngestItem{Event: oev, Runs: []store.IngestRun{newRun(otherWf, oev.ID, oev.Payload, base)}})
		b.startRun(orders, at(30*time.Minute)) // a manual run: no event, no metadata

		events := func(f store.EventFilter) []string {
			t.Helper()
			var out []string
			f.Limit = 2
			for { // page by page
				evs, err := b.s.EventList(b.ctx, b.tenant.ID, f)
				noErr(t, err, "ListEvents")
				for _, e := range evs {
					out = append(out, e.ID)
				}
				if len(evs) < f.Limit {
					return out
				}
				f.Before = evs[len(evs)-1].ID
			}
		}
		runs := func(f store.RunFilter) []string {
			t.Helper()
			var out []string
			f.Limit = 2
			for {
				rs, err := b.s.RunList(b.ctx, b.tenant.ID, f)
				noErr(t, err, "ListRuns")
				for _, r := range rs {
					out = append(out, r.ID)
				}
				if len(rs) < f.Limit {
					return out
				}
				f.Before = rs[len(rs)-1].ID
			}
		}
		pick := func(ids []string, idx ...int) []string {
			var out []string
			for _, i := range idx {
				out = append(out, ids[i])
			}
			return out
		}
		check := func(name string, got, want []string) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: got %v, want %v", name, got, want)
			}
		}
		check("events of audit", events(store.EventFilter{Workflow: "audit"}), pick(evIDs, 8, 6, 4, 2, 0))
		check("events of orders with metadata", events(store.EventFilter{Workflow: "orders", Metadata: map[string]string{"user": "u1"}}), pick(evIDs, 7, 4, 1))
		check("events of audit since", events(store.EventFilter{Workflow: "audit", Since: at(3 * time.Minute)}), pick(evIDs, 8, 6, 4))
		check("events of an unknown workflow", events(store.EventFilter{Workflow: "nope"}), nil)
		// u0 events: 0, 3, 6; their orders runs and the audit runs of 0 and 6, newest first.
		check("runs by metadata", runs(store.RunFilter{Metadata: map[string]string{"user": "u0"}}),
			[]string{auditRuns[3], orderRuns[6], orderRuns[3], auditRuns[0], orderRuns[0]})
		check("orders runs by metadata", runs(store.RunFilter{Metadata: map[string]string{"user": "u0"}, Workflow: "orders"}), pick(orderRuns, 6, 3, 0))
		check("runs by number metadata", runs(store.RunFilter{Metadata: map[string]string{"n": "4"}}), []string{auditRuns[2], orderRuns[4]})
		check("runs since until", runs(store.RunFilter{Workflow: "orders", Since: at(2 * time.Minute), Until: at(5 * time.Minute)}), pick(orderRuns, 4, 3, 2))
		check("runs until", runs(store.RunFilter{Workflow: "audit", Until: at(3 * time.Minute)}), pick(auditRuns, 1, 0))
	})
}
