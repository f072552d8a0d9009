// Package storetest is the conformance suite every store.Store implementation must pass.
//
// It tests only behaviour that the store.Store interface documents, so the same suite runs
// against SQLite and PostgreSQL. A store's test calls Run with a function that opens a
// fresh, empty, migrated store (and registers its cleanup with t.Cleanup):
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "h.db")})
//			...
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Tests never read the wall clock: every time passed to the store is a fixed base time plus
// an offset, and times are whole milliseconds (the precision stores must keep).
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/internal/store"
)

// Opener returns a fresh, empty, migrated store; the caller closes it via t.Cleanup.
type Opener func(t *testing.T) store.Store

// Run runs the whole conformance suite against the stores open returns. Every test opens
// its own store, so tests run in parallel.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"Tenants", testTenants},
		{"Tokens", testTokens},
		{"Workflows", testWorkflows},
		{"Ingest", testIngest},
		{"IngestSizes", testIngestSizes},
		{"Idempotency", testIdempotency},
		{"Events", testEvents},
		{"Runs", testRuns},
		{"Workers", testWorkers},
		{"Claim", testClaim},
		{"FinishSteps", testFinishSteps},
		{"Heartbeat", testHeartbeat},
		{"ExpireLeases", testExpireLeases},
		{"CancelRun", testCancelRun},
		{"ReadySince", testReadySince},
		{"Webhooks", testWebhooks},
		{"Filters", testFilters},
		{"EventFilters", testEventFilters},
		{"WorkflowStats", testWorkflowStats},
		{"Activity", testActivity},
		{"QueueDepths", testQueueDepth},
		{"Timings", testTimings},
		{"Prune", testPrune},
		{"Sessions", testSessions},
		{"Schemas", testSchemas},
		{"Scheduled", testScheduled},
		{"Search", testSearch},
		{"ForeignIDs", testForeignIDs},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.fn(t, open)
		})
	}
}

// base is the fixed time every test counts from.
var base = time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// ms is one millisecond, the stores' time precision.
const ms = time.Millisecond

// Defaults used by the helpers.
const (
	defaultTimeout  = 60 * time.Second
	defaultLeaseFor = 30 * time.Second
)

// defaultRetry is three attempts with a 1s, 2s, 4s... backoff.
var defaultRetry = store.RetryDef{MaxAttempts: 3, InitialBackoffMS: 1000, MaxBackoffMS: 30000, Multiplier: 2}

// bundle is what setup gives every test: a fresh store, a tenant and a registered worker.
type bundle struct {
	t      *testing.T
	ctx    context.Context
	s      store.Store
	tenant store.Tenant
	worker store.Worker
}

// setup opens a fresh store and creates a tenant and a worker in it.
func setup(t *testing.T, open Opener) *bundle {
	t.Helper()
	b := &bundle{t: t, ctx: context.Background(), s: open(t)}
	b.tenant = b.newTenant("acme")
	b.worker = b.newWorker(b.tenant.ID, "worker-1")
	return b
}

// newID returns a time-ordered unique id (UUIDv7), like the engine's.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// newTenant creates a tenant.
func (b *bundle) newTenant(name string) store.Tenant {
	b.t.Helper()
	tn := store.Tenant{ID: newID(), Name: name, CreatedAt: base}
	noErr(b.t, b.s.TenantCreate(b.ctx, tn), "CreateTenant")
	return tn
}

// newWorker registers a worker of the tenant.
func (b *bundle) newWorker(tenantID, name string) store.Worker {
	b.t.Helper()
	w := store.Worker{ID: newID(), TenantID: tenantID, Name: name, Workflows: []string{"*"}, Slots: 4, CreatedAt: base, LastHeartbeatAt: base}
	noErr(b.t, b.s.WorkerRegister(b.ctx, w), "RegisterWorker")
	return w
}

// stepDef is a step with the default timeout and retry policy.
func stepDef(name string, parents ...string) store.StepDef {
	return store.StepDef{Name: name, Parents: parents, TimeoutMS: defaultTimeout.Milliseconds(), Retry: defaultRetry}
}

// def is a workflow definition triggered by "<name>.*".
func def(name string, steps ...store.StepDef) store.WorkflowDef {
	return store.WorkflowDef{Name: name, Description: "test workflow " + name, Triggers: store.PlainTriggers(name + ".*"), Steps: steps}
}

// hashDef is a content hash of a definition.
func hashDef(d store.WorkflowDef) string {
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// putWorkflow stores d for the tenant and returns its current version.
func (b *bundle) putWorkflow(tenantID string, d store.WorkflowDef) store.Workflow {
	b.t.Helper()
	wf, _, err := b.s.WorkflowPut(b.ctx, store.PutWorkflowParams{TenantID: tenantID, NewID: newID(), Def: d, Hash: hashDef(d), At: base})
	noErr(b.t, err, "PutWorkflow")
	return wf
}

// workflow stores a workflow of b's tenant with the given steps.
func (b *bundle) workflow(name string, steps ...store.StepDef) store.Workflow {
	b.t.Helper()
	return b.putWorkflow(b.tenant.ID, def(name, steps...))
}

// newRun materializes a run of wf the way the engine does: every step-run pending, those
// without parents queued at t.
func newRun(wf store.Workflow, eventID string, input json.RawMessage, t time.Time) store.IngestRun {
	r := store.IngestRun{Run: store.Run{
		ID: newID(), TenantID: wf.TenantID, WorkflowID: wf.ID, WorkflowName: wf.Name, Version: wf.Version,
		EventID: eventID, Status: store.RunQueued, Input: input, CreatedAt: t,
	}}
	for i, sd := range wf.Def.Steps {
		st := store.StepRun{
			ID: newID(), TenantID: wf.TenantID, RunID: r.Run.ID, WorkflowName: wf.Name, Step: sd.Name, Position: i,
			Parents: sd.Parents, PendingParents: len(sd.Parents), Status: store.StepPending,
			MaxAttempts: sd.Retry.MaxAttempts, TimeoutMS: sd.TimeoutMS, Retry: sd.Retry,
		}
		if len(sd.Parents) == 0 {
			st.Status = store.StepQueued
			q := t
			st.QueuedAt = &q
		}
		r.Steps = append(r.Steps, st)
	}
	return r
}

// newEvent makes an API event of the tenant.
func newEvent(tenantID, key string, t time.Time) *store.Event {
	return &store.Event{
		ID: newID(), TenantID: tenantID, Key: key, Payload: json.RawMessage(`{"n":1}`), Source: store.SourceAPI,
		Triggers: []store.TriggerDecision{}, CreatedAt: t,
	}
}

// changes reads the workflow changes since mark and fails the test on error.
func (b *bundle) changes(mark string) store.WorkflowChangeSet {
	b.t.Helper()
	cs, err := b.s.WorkflowChanges(b.ctx, mark)
	noErr(b.t, err, "WorkflowChanges")
	return cs
}

// ingest commits items and fails the test on error.
func (b *bundle) ingest(items ...store.IngestItem) {
	b.t.Helper()
	noErr(b.t, b.s.EventInsert(b.ctx, items), "Ingest")
}

// startRun ingests a manual run (no event) of wf at t.
func (b *bundle) startRun(wf store.Workflow, t time.Time) store.IngestRun {
	b.t.Helper()
	r := newRun(wf, "", json.RawMessage(`{"order":42}`), t)
	b.ingest(store.IngestItem{Runs: []store.IngestRun{r}})
	return r
}

// claimParams fills a ClaimParams' zero fields with b's tenant, worker and defaults.
func (b *bundle) claimParams(p store.ClaimParams) store.ClaimParams {
	if p.TenantID == "" {
		p.TenantID = b.tenant.ID
	}
	if p.WorkerID == "" {
		p.WorkerID = b.worker.ID
	}
	if p.Max == 0 {
		p.Max = 100
	}
	if p.LeaseFor == 0 {
		p.LeaseFor = defaultLeaseFor
	}
	if p.NewLeaseID == nil {
		p.NewLeaseID = newID
	}
	return p
}

// claim claims up to max steps of the workflows for b's worker at t.
func (b *bundle) claim(t time.Time, max int, workflows ...string) []store.Assignment {
	b.t.Helper()
	return b.claimWith(store.ClaimParams{Workflows: workflows, Max: max, Now: t})
}

// claimWith claims with p (zero fields defaulted).
func (b *bundle) claimWith(p store.ClaimParams) []store.Assignment {
	b.t.Helper()
	as, err := b.s.StepClaim(b.ctx, b.claimParams(p))
	noErr(b.t, err, "Claim")
	return as
}

// claimOne claims exactly one step of the workflow at t.
func (b *bundle) claimOne(t time.Time, workflow string) store.Assignment {
	b.t.Helper()
	as := b.claim(t, 1, workflow)
	if len(as) != 1 {
		b.t.Fatalf("Claim(%s at %s) = %d assignments, want 1", workflow, t.Sub(base), len(as))
	}
	return as[0]
}

// finish reports one result and returns its outcome.
func (b *bundle) finish(r store.StepResult) store.FinishOutcome {
	b.t.Helper()
	if r.TenantID == "" {
		r.TenantID = b.tenant.ID
	}
	outs, err := b.s.StepFinish(b.ctx, []store.StepResult{r})
	noErr(b.t, err, "FinishSteps")
	if len(outs) != 1 {
		b.t.Fatalf("FinishSteps: %d outcomes for 1 result", len(outs))
	}
	if outs[0].StepRunID != r.StepRunID {
		b.t.Fatalf("FinishSteps: outcome for step-run %s, want %s", outs[0].StepRunID, r.StepRunID)
	}
	return outs[0]
}

// succeed reports a's success at t and requires it accepted.
func (b *bundle) succeed(a store.Assignment, t time.Time, output string) store.FinishOutcome {
	b.t.Helper()
	o := b.finish(store.StepResult{StepRunID: a.StepRunID, LeaseID: a.LeaseID, Succeeded: true, Output: json.RawMessage(output), At: t})
	noErr(b.t, o.Err, "FinishSteps outcome of success of "+a.Step)
	return o
}

// fail reports a's failure at t and requires it accepted.
func (b *bundle) fail(a store.Assignment, t time.Time, msg string, retryable bool) store.FinishOutcome {
	b.t.Helper()
	o := b.finish(store.StepResult{StepRunID: a.StepRunID, LeaseID: a.LeaseID, Error: msg, Retryable: retryable, At: t})
	noErr(b.t, o.Err, "FinishSteps outcome of failure of "+a.Step)
	return o
}

// getRun returns a run of b's tenant with its steps.
func (b *bundle) getRun(id string) (store.Run, []store.StepRun) {
	b.t.Helper()
	r, steps, err := b.s.RunGet(b.ctx, b.tenant.ID, id)
	noErr(b.t, err, "GetRun")
	return r, steps
}

// stepRun returns the step-run of the run by step name.
func (b *bundle) stepRun(runID, step string) store.StepRun {
	b.t.Helper()
	_, steps := b.getRun(runID)
	for _, st := range steps {
		if st.Step == step {
			return st
		}
	}
	b.t.Fatalf("run %s has no step %q", runID, step)
	return store.StepRun{}
}

// wantStatus requires the run's and its steps' statuses (steps by name).
func (b *bundle) wantStatus(runID, runStatus string, steps map[string]string) {
	b.t.Helper()
	r, got := b.getRun(runID)
	if r.Status != runStatus {
		b.t.Errorf("run status = %q, want %q", r.Status, runStatus)
	}
	for _, st := range got {
		if want, ok := steps[st.Step]; ok && st.Status != want {
			b.t.Errorf("step %s status = %q, want %q", st.Step, st.Status, want)
		}
	}
}

// expire calls StepExpireLeases at t with a generous limit.
func (b *bundle) expire(t time.Time) []store.FinishOutcome {
	b.t.Helper()
	outs, err := b.s.StepExpireLeases(b.ctx, t, 1000)
	noErr(b.t, err, "ExpireLeases")
	return outs
}

// noErr fails the test now when err is not nil.
func noErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// wantErr fails the test when err is not target.
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want %v", what, err, target)
	}
}

// wantTime fails the test when got is not want.
func wantTime(t *testing.T, got *time.Time, want time.Time, what string) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = nil, want %s", what, want)
		return
	}
	if !got.Equal(want) {
		t.Errorf("%s = %s, want %s", what, got.UTC(), want)
	}
}

// jsonEq fails the test when got and want are not the same JSON value (formatting and
// key order aside, so stores may keep JSON in a binary form).
func jsonEq(t *testing.T, got, want json.RawMessage, what string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s = %q: not JSON: %v", what, got, err)
		return
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: want %q is not JSON: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// queuedWork returns the outcome's queued work: per queue, the offsets from base at
// which steps became available.
func queuedWork(o store.FinishOutcome) map[store.WorkKey][]time.Duration {
	m := map[store.WorkKey][]time.Duration{}
	for _, q := range o.Queued {
		m[q.WorkKey] = append(m[q.WorkKey], q.AvailableAt.Sub(base))
	}
	return m
}
