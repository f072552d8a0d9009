package storetest

import (
	"crypto/sha256"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// This file tests the dashboard and observability methods: event filters, replay
// lineage, workflow statistics, activity series, queue depth, claim and finish timings,
// retention and dashboard sessions.

func testEventFilters(t *testing.T, open Opener) {
	t.Run("KeyPrefixMetadataTimeAndAfter", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		other := b.newTenant("globex")
		type spec struct {
			key  string
			meta string
		}
		specs := []spec{
			{"orders.created", `{"region":"eu","tier":3,"vip":true}`},
			{"orders.paid", `{"region":"us","tier":3}`},
			{"ordersx.created", `{"region":"eu"}`},
			{"users.created", ``},
			{"orders.created", `{"region":"eu","tier":4,"vip":false}`},
		}
		var ids []string // oldest first; event i at base + i minutes
		for i, sp := range specs {
			ev := newEvent(b.tenant.ID, sp.key, at(time.Duration(i)*time.Minute))
			if sp.meta != "" {
				ev.Metadata = json.RawMessage(sp.meta)
			}
			ids = append(ids, ev.ID)
			b.ingest(store.IngestItem{Event: ev})
		}
		oev := newEvent(other.ID, "orders.created", base)
		oev.Metadata = json.RawMessage(`{"region":"eu"}`)
		b.ingest(store.IngestItem{Event: oev})

		list := func(f store.EventFilter) []string {
			t.Helper()
			if f.Limit == 0 {
				f.Limit = 100
			}
			evs, err := b.s.ListEvents(b.ctx, b.tenant.ID, f)
			noErr(t, err, "ListEvents")
			out := []string{}
			for _, e := range evs {
				out = append(out, e.ID)
			}
			return out
		}
		cases := []struct {
			name string
			f    store.EventFilter
			want []int
		}{
			{"prefix", store.EventFilter{KeyPrefix: "orders."}, []int{4, 1, 0}},
			{"prefix without dot", store.EventFilter{KeyPrefix: "orders"}, []int{4, 2, 1, 0}},
			{"prefix is whole key", store.EventFilter{KeyPrefix: "users.created"}, []int{3}},
			{"prefix matches nothing", store.EventFilter{KeyPrefix: "zzz"}, nil},
			{"prefix and key", store.EventFilter{KeyPrefix: "orders.", Key: "orders.paid"}, []int{1}},
			{"metadata string", store.EventFilter{Metadata: map[string]string{"region": "eu"}}, []int{4, 2, 0}},
			{"metadata number", store.EventFilter{Metadata: map[string]string{"tier": "3"}}, []int{1, 0}},
			{"metadata boolean", store.EventFilter{Metadata: map[string]string{"vip": "true"}}, []int{0}},
			{"metadata false", store.EventFilter{Metadata: map[string]string{"vip": "false"}}, []int{4}},
			{"metadata two keys", store.EventFilter{Metadata: map[string]string{"region": "eu", "tier": "4"}}, []int{4}},
			{"metadata missing key", store.EventFilter{Metadata: map[string]string{"plan": "eu"}}, nil},
			{"metadata string is not quoted JSON", store.EventFilter{Metadata: map[string]string{"region": `"eu"`}}, nil},
			{"since", store.EventFilter{Since: at(3 * time.Minute)}, []int{4, 3}},
			{"until", store.EventFilter{Until: at(2 * time.Minute)}, []int{1, 0}},
			{"since and until", store.EventFilter{Since: at(time.Minute), Until: at(3*time.Minute + ms)}, []int{3, 2, 1}},
			{"after", store.EventFilter{After: ids[2]}, []int{4, 3}},
			{"after and before", store.EventFilter{After: ids[0], Before: ids[3]}, []int{2, 1}},
			{"prefix, metadata and cursor", store.EventFilter{KeyPrefix: "orders.", Metadata: map[string]string{"region": "eu"}, Before: ids[4]}, []int{0}},
			{"limit", store.EventFilter{KeyPrefix: "orders", Limit: 2}, []int{4, 2}},
		}
		for _, c := range cases {
			want := []string{}
			for _, i := range c.want {
				want = append(want, ids[i])
			}
			if got := list(c.f); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: ListEvents = %v, want %v", c.name, got, want)
			}
		}
	})

	t.Run("ReplayOfRoundTrips", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		orig := newEvent(b.tenant.ID, "orders.created", base)
		b.ingest(store.IngestItem{Event: orig})
		rep := newEvent(b.tenant.ID, "orders.created", at(time1))
		rep.Source, rep.ReplayOf = store.SourceReplay, orig.ID
		b.ingest(store.IngestItem{Event: rep})

		got, err := b.s.GetEvent(b.ctx, b.tenant.ID, rep.ID)
		noErr(t, err, "GetEvent")
		if got.ReplayOf != orig.ID || got.Source != store.SourceReplay {
			t.Errorf("replay: ReplayOf = %q, Source = %q; want %q, %q", got.ReplayOf, got.Source, orig.ID, store.SourceReplay)
		}
		got, err = b.s.GetEvent(b.ctx, b.tenant.ID, orig.ID)
		noErr(t, err, "GetEvent(original)")
		if got.ReplayOf != "" {
			t.Errorf("original: ReplayOf = %q, want empty", got.ReplayOf)
		}
		evs, err := b.s.ListEvents(b.ctx, b.tenant.ID, store.EventFilter{Limit: 1})
		noErr(t, err, "ListEvents")
		if len(evs) != 1 || evs[0].ReplayOf != orig.ID {
			t.Errorf("ListEvents: %+v, want the replay with ReplayOf %s", evs, orig.ID)
		}
	})
}

func testWorkflowStats(t *testing.T, open Opener) {
	b := setup(t, open)
	other := b.newTenant("globex")
	wf := b.workflow("checkout", stepDef("a"))
	idle := b.workflow("idle", stepDef("a"))
	owf := b.putWorkflow(other.ID, def("checkout", stepDef("a")))
	_ = idle

	// Ten succeeded runs lasting 100ms, 200ms, ... 1s, one failed run of 2s.
	clock := time.Duration(0)
	runOnce := func(w store.Workflow, d time.Duration, ok bool) {
		t.Helper()
		b.startRun(w, at(clock))
		a := b.claimOne(at(clock+time1), w.Name)
		if ok {
			b.succeed(a, at(clock+time1+d), `{}`)
		} else {
			b.fail(a, at(clock+time1+d), "boom", false)
		}
		clock += time.Minute
	}
	for i := 1; i <= 10; i++ {
		runOnce(wf, time.Duration(i)*100*ms, true)
	}
	runOnce(wf, 2*time.Second, false)
	cancelled := b.startRun(wf, at(clock))
	_, err := b.s.CancelRun(b.ctx, b.tenant.ID, cancelled.Run.ID, at(clock+time1))
	noErr(t, err, "CancelRun")
	b.startRun(wf, at(clock)) // unfinished
	// Before the window: not counted.
	b.startRun(wf, at(-time.Hour))
	// Another tenant's runs: not counted.
	ob := &bundle{t: t, ctx: b.ctx, s: b.s, tenant: other, worker: b.newWorker(other.ID, "w")}
	ob.startRun(owf, at(0))

	stats, err := b.s.WorkflowStats(b.ctx, b.tenant.ID, base)
	noErr(t, err, "WorkflowStats")
	want := []store.WorkflowStats{{
		Workflow: "checkout", Succeeded: 10, Failed: 1, Cancelled: 1, Unfinished: 1,
		P50: 600 * ms, P95: 2 * time.Second,
	}}
	if !reflect.DeepEqual(stats, want) {
		t.Errorf("WorkflowStats = %+v,\nwant %+v", stats, want)
	}

	stats, err = b.s.WorkflowStats(b.ctx, b.tenant.ID, at(-2*time.Hour))
	noErr(t, err, "WorkflowStats(wider window)")
	if len(stats) != 1 || stats[0].Unfinished != 2 {
		t.Errorf("WorkflowStats(wider window) = %+v, want checkout with 2 unfinished runs", stats)
	}
	stats, err = b.s.WorkflowStats(b.ctx, b.tenant.ID, at(24*time.Hour))
	noErr(t, err, "WorkflowStats(empty window)")
	if len(stats) != 0 {
		t.Errorf("WorkflowStats(empty window) = %+v, want none", stats)
	}
}

func testActivity(t *testing.T, open Opener) {
	b := setup(t, open)
	other := b.newTenant("globex")
	wf := b.workflow("checkout", stepDef("a"))

	event := func(source string, d time.Duration) {
		ev := newEvent(b.tenant.ID, "checkout.done", at(d))
		ev.Source = source
		b.ingest(store.IngestItem{Event: ev})
	}
	event(store.SourceAPI, 0)
	event(store.SourceAPI, 30*time.Second)
	event(store.SourceRun, 61*time.Second)
	event(store.SourceAPI, 5*time.Minute) // at Until: outside
	event(store.SourceAPI, -time.Second)  // before Since: outside
	b.ingest(store.IngestItem{Event: newEvent(other.ID, "checkout.done", at(0))})

	// Runs: r1 created at 0s starts at 2s; r2 created at 10s starts at 10.5s (both in
	// bucket 0); r3 created at 70s never starts (bucket 1); r4 created at 80s, cancelled.
	b.startRun(wf, at(0))
	b.startRun(wf, at(10*time.Second))
	a1 := b.claimOne(at(2*time.Second), "checkout")
	a2 := b.claimOne(at(10*time.Second+500*ms), "checkout")
	b.succeed(a1, at(3*time.Second), `{}`)
	_ = a2
	b.startRun(wf, at(70*time.Second))
	r4 := b.startRun(wf, at(80*time.Second))
	_, err := b.s.CancelRun(b.ctx, b.tenant.ID, r4.Run.ID, at(81*time.Second))
	noErr(t, err, "CancelRun")

	got, err := b.s.Activity(b.ctx, store.ActivityParams{TenantID: b.tenant.ID, Since: base, Until: at(5 * time.Minute), Bucket: time.Minute})
	noErr(t, err, "Activity")
	wantEvents := []store.BucketCount{{Bucket: 0, Label: store.SourceAPI, Count: 2}, {Bucket: 1, Label: store.SourceRun, Count: 1}}
	if !reflect.DeepEqual(got.Events, wantEvents) {
		t.Errorf("Activity.Events = %+v, want %+v", got.Events, wantEvents)
	}
	wantRuns := []store.BucketCount{{Bucket: 0, Label: store.RunRunning, Count: 1}, {Bucket: 0, Label: store.RunSucceeded, Count: 1}, {Bucket: 1, Label: store.RunCancelled, Count: 1}, {Bucket: 1, Label: store.RunQueued, Count: 1}}
	if !reflect.DeepEqual(got.Runs, wantRuns) {
		t.Errorf("Activity.Runs = %+v, want %+v", got.Runs, wantRuns)
	}
	wantLat := []store.LatencyBucket{{Bucket: 0, Count: 2, P50: 500 * ms, P95: 2 * time.Second, P99: 2 * time.Second}}
	if !reflect.DeepEqual(got.StartLatency, wantLat) {
		t.Errorf("Activity.StartLatency = %+v, want %+v", got.StartLatency, wantLat)
	}

	got, err = b.s.Activity(b.ctx, store.ActivityParams{TenantID: other.ID, Since: base, Until: at(5 * time.Minute), Bucket: time.Minute})
	noErr(t, err, "Activity(other tenant)")
	if len(got.Events) != 1 || got.Events[0].Count != 1 || len(got.Runs) != 0 || len(got.StartLatency) != 0 {
		t.Errorf("Activity(other tenant) = %+v, want one event and nothing else", got)
	}
}

func testQueueDepth(t *testing.T, open Opener) {
	b := setup(t, open)
	other := b.newTenant("globex")
	wf := b.workflow("fanout", stepDef("a"), stepDef("b"), stepDef("c", "a", "b"))
	owf := b.putWorkflow(other.ID, def("fanout", stepDef("a")))
	depths := func() map[string]int {
		t.Helper()
		m, err := b.s.QueueDepths(b.ctx)
		noErr(t, err, "QueueDepths")
		return m
	}
	depth := func(tenantID string) int {
		t.Helper()
		return depths()[tenantID]
	}
	if m := depths(); len(m) != 0 {
		t.Errorf("QueueDepths on an empty store = %v, want none", m)
	}
	b.startRun(wf, base)
	b.ingest(store.IngestItem{Runs: []store.IngestRun{newRun(owf, "", json.RawMessage(`{}`), base)}})
	if n := depth(b.tenant.ID); n != 2 {
		t.Errorf("QueueDepth(acme) = %d, want 2 (two root steps)", n)
	}
	if n := depth(other.ID); n != 1 {
		t.Errorf("QueueDepth(globex) = %d, want 1", n)
	}
	b.claimOne(at(time1), "fanout")
	if n := depth(b.tenant.ID); n != 1 {
		t.Errorf("QueueDepth(acme) after a claim = %d, want 1", n)
	}
}

func testTimings(t *testing.T, open Opener) {
	b := setup(t, open)
	wf := b.workflow("pay", stepDef("charge"))
	b.startRun(wf, at(time1))
	a := b.claimOne(at(3*time1), "pay")
	if !a.AvailableAt.Equal(at(time1)) {
		t.Errorf("Assignment.AvailableAt = %s, want the queue time %s", a.AvailableAt, at(time1))
	}
	o := b.fail(a, at(4*time1), "flaky", true) // retried after 1s of backoff
	if !o.StartedAt.Equal(at(3 * time1)) {
		t.Errorf("FinishOutcome.StartedAt = %s, want the claim time %s", o.StartedAt, at(3*time1))
	}
	a = b.claimOne(at(10*time1), "pay")
	if !a.AvailableAt.Equal(at(5 * time1)) {
		t.Errorf("retry: Assignment.AvailableAt = %s, want the end of the backoff %s", a.AvailableAt, at(5*time1))
	}
	o = b.succeed(a, at(11*time1), `{}`)
	if !o.StartedAt.Equal(at(10 * time1)) {
		t.Errorf("retry: FinishOutcome.StartedAt = %s, want %s", o.StartedAt, at(10*time1))
	}
	stale := b.finish(store.StepResult{StepRunID: a.StepRunID, LeaseID: a.LeaseID, Succeeded: true, Output: json.RawMessage(`{}`), At: at(12 * time1)})
	if stale.Err == nil || !stale.StartedAt.IsZero() {
		t.Errorf("refused result: Err = %v, StartedAt = %s; want a refusal and no start time", stale.Err, stale.StartedAt)
	}
}

func testPrune(t *testing.T, open Opener) {
	b := setup(t, open)
	wf := b.workflow("pay", stepDef("charge"), stepDef("notify", "charge"))
	hook := newWebhook(b.tenant.ID, "stripe")
	noErr(t, b.s.CreateWebhook(b.ctx, hook), "CreateWebhook")

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
	_, err := b.s.CancelRun(b.ctx, b.tenant.ID, oldDone.Run.ID, at(-3*time.Hour+time1))
	noErr(t, err, "CancelRun")
	// Another tenant's old event is pruned too.
	other := b.newTenant("globex")
	theirOld := newEvent(other.ID, "pay.x", at(-3*time.Hour))
	b.ingest(store.IngestItem{Event: theirOld})

	tok := newToken(b.tenant.ID, "ui", "s3cret", store.RoleMember)
	noErr(t, b.s.CreateToken(b.ctx, tok), "CreateToken")
	expired := store.Session{Hash: sessionHash("old"), TenantID: b.tenant.ID, TokenID: tok.ID, CSRF: "c", CreatedAt: at(-2 * time.Hour), ExpiresAt: at(-time.Hour)}
	live := store.Session{Hash: sessionHash("new"), TenantID: b.tenant.ID, TokenID: tok.ID, CSRF: "c", CreatedAt: at(-time.Hour), ExpiresAt: at(time.Hour)}
	noErr(t, b.s.CreateSession(b.ctx, expired), "CreateSession(expired)")
	noErr(t, b.s.CreateSession(b.ctx, live), "CreateSession(live)")

	// One row of each kind per call, a tenant's oldest event first.
	p := store.PruneParams{Before: at(-time.Hour), Now: base, Limit: 1}
	r, err := b.s.Prune(b.ctx, p)
	noErr(t, err, "Prune")
	if want := (store.PruneResult{Events: 1, Runs: 1, Deliveries: 1, Sessions: 1}); r != want {
		t.Errorf("Prune #1 = %+v, want %+v", r, want)
	}
	if _, err := b.s.GetEvent(b.ctx, b.tenant.ID, oldEvents[1].ID); err != nil {
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
		_, err := b.s.GetEvent(b.ctx, b.tenant.ID, ev.ID)
		wantErr(t, err, store.ErrNotFound, "GetEvent(pruned)")
	}
	_, err = b.s.GetEvent(b.ctx, other.ID, theirOld.ID)
	wantErr(t, err, store.ErrNotFound, "GetEvent(another tenant's pruned)")
	_, err = b.s.GetEvent(b.ctx, b.tenant.ID, newEv.ID)
	noErr(t, err, "GetEvent(recent)")
	_, _, err = b.s.GetRun(b.ctx, b.tenant.ID, oldDone.Run.ID)
	wantErr(t, err, store.ErrNotFound, "GetRun(pruned)")
	_, err = b.s.RunStep(b.ctx, b.tenant.ID, oldDone.Run.ID, oldDone.Steps[0].ID)
	wantErr(t, err, store.ErrNotFound, "RunStep(step-run of a pruned run)")
	b.wantStatus(oldRunning.Run.ID, store.RunQueued, map[string]string{"charge": store.StepQueued, "notify": store.StepPending})
	b.wantStatus(newRunning.Run.ID, store.RunQueued, nil)
	ds, err := b.s.ListWebhookDeliveries(b.ctx, b.tenant.ID, hook.ID, store.DeliveryFilter{Limit: 10})
	noErr(t, err, "ListWebhookDeliveries")
	if len(ds) != 1 || !ds[0].ReceivedAt.Equal(at(0)) {
		t.Errorf("deliveries after pruning = %+v, want only the recent one", ds)
	}
	_, err = b.s.GetSession(b.ctx, live.Hash, base)
	noErr(t, err, "GetSession(live)")
	// The old queued run's steps are still claimable.
	if a := b.claimOne(at(time1), "pay"); a.RunID != oldRunning.Run.ID && a.RunID != newRunning.Run.ID {
		t.Errorf("claimed step of run %s", a.RunID)
	}
}

// sessionHash is the hash of a session id.
func sessionHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

func testSessions(t *testing.T, open Opener) {
	b := setup(t, open)
	other := b.newTenant("globex")
	admin := newToken(b.tenant.ID, "admin", "adm", store.RoleAdmin)
	user := newToken(b.tenant.ID, "user", "usr", store.RoleMember)
	otherTok := newToken(other.ID, "user", "oth", store.RoleMember)
	for _, tk := range []store.Token{admin, user, otherTok} {
		noErr(t, b.s.CreateToken(b.ctx, tk), "CreateToken")
	}
	s1 := store.Session{Hash: sessionHash("s1"), TenantID: b.tenant.ID, TokenID: admin.ID, CSRF: "csrf-1", CreatedAt: base, ExpiresAt: at(time.Hour)}
	s2 := store.Session{Hash: sessionHash("s2"), TenantID: b.tenant.ID, TokenID: user.ID, CSRF: "csrf-2", CreatedAt: base, ExpiresAt: at(time.Hour)}
	// A session whose tenant does not match its token's is never valid.
	bad := store.Session{Hash: sessionHash("bad"), TenantID: b.tenant.ID, TokenID: otherTok.ID, CSRF: "x", CreatedAt: base, ExpiresAt: at(time.Hour)}
	for _, s := range []store.Session{s1, s2, bad} {
		noErr(t, b.s.CreateSession(b.ctx, s), "CreateSession")
	}
	wantErr(t, b.s.CreateSession(b.ctx, s1), store.ErrConflict, "CreateSession(same hash)")

	got, err := b.s.GetSession(b.ctx, s1.Hash, at(time1))
	noErr(t, err, "GetSession")
	want := s1
	want.TenantName, want.Role = "acme", store.RoleAdmin
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetSession = %+v, want %+v", got, want)
	}
	got, err = b.s.GetSession(b.ctx, s2.Hash, at(time1))
	noErr(t, err, "GetSession(user)")
	if got.Role != store.RoleMember || got.TokenID != user.ID || got.CSRF != "csrf-2" {
		t.Errorf("GetSession(user) = %+v", got)
	}

	_, err = b.s.GetSession(b.ctx, s1.Hash, at(time.Hour))
	wantErr(t, err, store.ErrNotFound, "GetSession(expired)")
	_, err = b.s.GetSession(b.ctx, sessionHash("nope"), base)
	wantErr(t, err, store.ErrNotFound, "GetSession(unknown)")
	_, err = b.s.GetSession(b.ctx, bad.Hash, base)
	wantErr(t, err, store.ErrNotFound, "GetSession(token of another tenant)")

	noErr(t, b.s.RevokeToken(b.ctx, b.tenant.ID, user.ID, at(time1)), "RevokeToken")
	_, err = b.s.GetSession(b.ctx, s2.Hash, at(2*time1))
	wantErr(t, err, store.ErrNotFound, "GetSession(revoked token)")

	noErr(t, b.s.DeleteSession(b.ctx, s1.Hash), "DeleteSession")
	_, err = b.s.GetSession(b.ctx, s1.Hash, at(time1))
	wantErr(t, err, store.ErrNotFound, "GetSession(deleted)")
	noErr(t, b.s.DeleteSession(b.ctx, s1.Hash), "DeleteSession(again)")
}
