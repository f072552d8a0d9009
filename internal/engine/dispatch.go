package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/store"
)

// Worker limits.
const (
	DefaultSlots    = 10
	MaxSlots        = 1000
	MaxPollBatch    = 100
	DefaultPollWait = 20 * time.Second
	MaxPollWait     = 60 * time.Second
)

// dispatch is the engine's way out. It registers workers, hands them ready steps under
// leases (Poll, which parks until the notifier wakes it), extends leases (Heartbeat) and
// commits step results in batches (Complete, Fail), waking the workers of the steps
// they unblocked, at once or when a retry's backoff ends.
type dispatch struct {
	*base
	waiters *notifier
	workers sync.Map // worker id -> store.Worker
	batch   *batcher[finishReq]
	closed  atomic.Bool
	loops   loopGroup

	timersMu sync.Mutex
	timers   map[*time.Timer]struct{} // wake-ups at the end of retries' backoffs
}

func newDispatch(b *base) *dispatch {
	dp := &dispatch{base: b, waiters: newNotifier(), timers: map[*time.Timer]struct{}{}}
	dp.batch = newBatcher(500, dp.commitFinish)
	return dp
}

// start runs the loops that commit step results.
func (dp *dispatch) start() {
	dp.loops.run(dp.batch.loops(dp.cfg.CommitLoops)...)
}

// refuse makes every step result from now on fail with ErrClosed, every poll return
// empty and every parked poll wake to return empty; what was queued still commits.
func (dp *dispatch) refuse() {
	dp.closed.Store(true)
	dp.batch.close()
	dp.waiters.wakeAll()
}

// stop refuses new results, waits for the commit loops to drain what was queued, drops
// the pending wake-ups and wakes every parked poll, which then returns empty.
func (dp *dispatch) stop() {
	dp.refuse()
	dp.loops.halt()
	dp.timersMu.Lock()
	for t := range dp.timers {
		t.Stop()
	}
	dp.timersMu.Unlock()
	dp.waiters.wakeAll()
}

// notify wakes the workers of a tenant's workflow: it has ready steps.
func (dp *dispatch) notify(tenantID, workflow string) { dp.waiters.notify(tenantID, workflow) }

// RegisterWorker registers a worker for workflows that must exist in the tenant.
func (dp *dispatch) RegisterWorker(ctx context.Context, tenantID, name string, workflows []string, slots int) (store.Worker, error) {
	if name == "" {
		name = "worker"
	}
	if len(name) > MaxNameLen {
		return store.Worker{}, fieldErr("name", "is longer than %d bytes", MaxNameLen)
	}
	if !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return store.Worker{}, fieldErr("name", "must be UTF-8 text without control characters")
	}
	if slots == 0 {
		slots = DefaultSlots
	}
	if slots < 1 || slots > MaxSlots {
		return store.Worker{}, fieldErr("slots", "must be between 1 and %d", MaxSlots)
	}
	if len(workflows) == 0 {
		return store.Worker{}, fieldErr("workflows", "name at least one workflow")
	}
	seen := map[string]bool{}
	var wfs []string
	for i, wf := range workflows {
		if _, err := dp.store.WorkflowGet(ctx, store.WorkflowGetParams{TenantID: tenantID, Name: wf}); errors.Is(err, store.ErrNotFound) {
			return store.Worker{}, fieldErr(fmt.Sprintf("workflows[%d]", i), "no workflow named %q (register it first)", wf)
		} else if err != nil {
			return store.Worker{}, err
		}
		if !seen[wf] {
			seen[wf] = true
			wfs = append(wfs, wf)
		}
	}
	at := dp.now()
	w := store.Worker{ID: NewID(), TenantID: tenantID, Name: name, Workflows: wfs, Slots: slots, CreatedAt: at, LastHeartbeatAt: at}
	if err := dp.store.WorkerRegister(ctx, w); err != nil {
		return store.Worker{}, err
	}
	dp.workers.Store(w.ID, w)
	return w, nil
}

// worker returns a tenant's worker, cached after its first lookup.
func (dp *dispatch) worker(ctx context.Context, tenantID, id string) (store.Worker, error) {
	if v, ok := dp.workers.Load(id); ok {
		w := v.(store.Worker)
		if w.TenantID == tenantID {
			return w, nil
		}
		return store.Worker{}, store.ErrNotFound
	}
	w, err := dp.store.WorkerGet(ctx, tenantID, id)
	if err != nil {
		return w, err
	}
	dp.workers.Store(id, w)
	return w, nil
}

// Poll claims up to max ready steps for a worker; if none is ready it waits up to wait and
// returns as soon as one is. An empty result means the wait ran out.
func (dp *dispatch) Poll(ctx context.Context, tenantID, workerID string, max int, wait time.Duration) ([]store.Assignment, error) {
	if max == 0 {
		max = 1
	}
	if max < 1 || max > MaxPollBatch {
		return nil, fieldErr("max", "must be between 1 and %d", MaxPollBatch)
	}
	if wait < 0 || wait > MaxPollWait {
		return nil, fieldErr("wait", "must be between 0s and %s", MaxPollWait)
	}
	w, err := dp.worker(ctx, tenantID, workerID)
	if err != nil {
		return nil, err
	}
	// Register before the first claim, so that work made ready in between still wakes us.
	wt := dp.waiters.add(tenantID, w.Workflows)
	defer dp.waiters.remove(tenantID, wt)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		if dp.closed.Load() {
			return nil, nil
		}
		claimedAt := dp.now()
		as, err := dp.store.StepClaim(ctx, store.ClaimParams{
			TenantID: tenantID, WorkerID: workerID, Workflows: w.Workflows, Max: max, Now: claimedAt,
			LeaseFor: dp.cfg.LeaseDuration, NewLeaseID: NewID,
		})
		for _, a := range as {
			dp.cfg.Observer.StepStarted(claimedAt.Sub(a.AvailableAt))
		}
		if err != nil || len(as) > 0 {
			return as, err
		}
		// Nothing is claimable now, but a queued step may be about to be: its
		// availability was stamped by another replica whose clock is ahead of this one's
		// (woken by its commit, this claim came too early by that clock), or it is a
		// retry whose backoff ends soon. Claim again when it is due, rather than wait for
		// a wake-up that will not come.
		var due <-chan time.Time
		if at, ok, err := dp.store.StepNextAvailable(ctx, tenantID, w.Workflows); err != nil {
			dp.log.Debug("reading when the next step is due", "err", err) // the wait still ends
		} else if ok {
			d := time.Until(at)
			if d < recheckMin {
				d = recheckMin
			}
			due = time.After(d) // collected once unreachable, fired or not
		}
		dp.cfg.Signals.parked(workerID)
		select {
		case <-wt.ch:
		case <-due:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		}
	}
}

// recheckMin is the shortest wait before claiming again a queued step that is available
// but was not claimed (another claim held it): that claim takes it soon.
const recheckMin = 50 * time.Millisecond

// Heartbeat marks a worker alive and extends its listed leases; it returns the step-runs
// whose leases are no longer the worker's.
//
// A worker holds at most MaxSlots leases, so a heartbeat lists at most that many: each is a
// write in the heartbeat's transaction. A lease id that is not one Herald issued (an id) is
// lost without asking the store, whose PostgreSQL text cannot hold some such strings
// (U+0000).
func (dp *dispatch) Heartbeat(ctx context.Context, tenantID, workerID string, leases []store.LeaseRef) (lost []string, until time.Time, err error) {
	if len(leases) > MaxSlots {
		return nil, time.Time{}, fieldErr("step_runs", "lists %d step-runs; a worker holds at most %d", len(leases), MaxSlots)
	}
	if _, err := dp.worker(ctx, tenantID, workerID); err != nil {
		return nil, time.Time{}, err
	}
	held := make([]store.LeaseRef, 0, len(leases))
	for _, l := range leases {
		if store.ValidID(l.LeaseID) {
			held = append(held, l)
		} else {
			lost = append(lost, l.StepRunID)
		}
	}
	at := dp.now()
	more, err := dp.store.StepHeartbeat(ctx, store.HeartbeatParams{TenantID: tenantID, WorkerID: workerID, Leases: held, Now: at, LeaseFor: dp.cfg.LeaseDuration})
	return append(lost, more...), at.Add(dp.cfg.LeaseDuration), err
}

// finishReq is one result waiting for the batched completion commit.
type finishReq struct {
	res  store.StepResult
	done chan finishResp
}

type finishResp struct {
	out store.FinishOutcome
	err error
}

func (r finishReq) size() int { return 1 }

// Complete records a step's success; store.ErrStaleLease if the lease is not current.
func (dp *dispatch) Complete(ctx context.Context, tenantID, workerID, stepRunID, leaseID string, output json.RawMessage) error {
	out, err := jsonObject("output", output)
	if err != nil {
		return err
	}
	return dp.report(ctx, tenantID, workerID, store.StepResult{TenantID: tenantID, StepRunID: stepRunID, LeaseID: leaseID, Succeeded: true, Output: out})
}

// Fail records a failed attempt; store.ErrStaleLease if the lease is not current.
func (dp *dispatch) Fail(ctx context.Context, tenantID, workerID, stepRunID, leaseID, msg string, retryable bool) error {
	msg = failureMessage(msg)
	return dp.report(ctx, tenantID, workerID, store.StepResult{TenantID: tenantID, StepRunID: stepRunID, LeaseID: leaseID, Error: msg, Retryable: retryable})
}

// maxFailureMessage bounds a stored failure message, in bytes.
const maxFailureMessage = 8192

// failureMessage is msg as stored: valid UTF-8 without U+0000 (which PostgreSQL's text
// cannot hold), cut at a character boundary to at most maxFailureMessage bytes; "step
// failed" when empty. A worker's message is never refused for its length: that would leave
// the step to its lease's expiry.
func failureMessage(msg string) string {
	msg = strings.ReplaceAll(strings.ToValidUTF8(msg, "\uFFFD"), "\x00", "\uFFFD")
	if len(msg) > maxFailureMessage {
		cut := maxFailureMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
	}
	if msg == "" {
		msg = "step failed"
	}
	return msg
}

func (dp *dispatch) report(ctx context.Context, tenantID, workerID string, res store.StepResult) error {
	if res.LeaseID == "" {
		return fieldErr("lease_id", "is required")
	}
	if _, err := dp.worker(ctx, tenantID, workerID); err != nil {
		return err
	}
	res.At = dp.now()
	req := finishReq{res: res, done: make(chan finishResp, 1)}
	ok, closed := dp.batch.submit(req)
	if !ok {
		if closed {
			return ErrClosed
		}
		return ErrOverloaded
	}
	select {
	case r := <-req.done:
		if r.err != nil {
			return r.err
		}
		return r.out.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commitFinish writes a batch of step results in one transaction and wakes the workers of
// the steps they unblocked. If that fails, results may be written one by one (see
// retryAlone), so that one the store refuses cannot fail its neighbours (whose steps
// would then run again once their leases expire).
func (dp *dispatch) commitFinish(ctx context.Context, reqs []finishReq) {
	err := dp.finishSteps(ctx, reqs)
	if err == nil {
		return
	}
	if retryAlone(err, len(reqs)) {
		for _, r := range reqs {
			if err := dp.finishSteps(ctx, []finishReq{r}); err != nil {
				r.done <- finishResp{err: err}
			}
		}
		return
	}
	for _, r := range reqs {
		r.done <- finishResp{err: err}
	}
}

// finishSteps writes reqs' results in one transaction; when it commits, it wakes the
// workers of the steps the results unblocked and answers every request. When it fails it
// answers none.
func (dp *dispatch) finishSteps(ctx context.Context, reqs []finishReq) error {
	results := make([]store.StepResult, len(reqs))
	for i, r := range reqs {
		results[i] = r.res
	}
	start := time.Now()
	outs, err := dp.store.StepFinish(ctx, results)
	dp.cfg.Observer.StoreCommit("finish", time.Since(start), err)
	if err != nil {
		dp.log.Warn("step results commit failed", "results", len(results), "err", err)
		return err
	}
	dp.observeRuns(outs, results)
	dp.wake(outs)
	for i, r := range reqs {
		r.done <- finishResp{out: outs[i]}
	}
	return nil
}

// wake notifies waiting workers about work that outcomes queued, at once or when due.
func (dp *dispatch) wake(outs []store.FinishOutcome) {
	n := time.Now()
	for _, o := range outs {
		for _, q := range o.Queued {
			if d := q.AvailableAt.Sub(n); d > 0 {
				dp.notifyAt(d, q.WorkKey)
				continue
			}
			dp.waiters.notify(q.TenantID, q.Workflow)
		}
	}
}

// notifyAt wakes the workers of k after d (a retry's backoff).
func (dp *dispatch) notifyAt(d time.Duration, k store.WorkKey) {
	if dp.closed.Load() {
		return
	}
	var t *time.Timer
	dp.timersMu.Lock()
	t = time.AfterFunc(d, func() {
		dp.timersMu.Lock()
		delete(dp.timers, t)
		dp.timersMu.Unlock()
		dp.waiters.notify(k.TenantID, k.Workflow)
	})
	dp.timers[t] = struct{}{}
	dp.timersMu.Unlock()
}
