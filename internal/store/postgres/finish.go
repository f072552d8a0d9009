package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/store"
)

// FinishSteps implements store.Store in a fixed number of round trips whatever the batch
// size: it locks the runs of every result in one statement (in id order, so concurrent
// batches cannot deadlock on them), reads all their step-runs with a fresh snapshot, applies
// the results in order in memory (the same decisions as every store: store.AfterSuccess,
// the retry policy), and writes every change in one pipelined batch.
func (s *Store) FinishSteps(ctx context.Context, results []store.StepResult) ([]store.FinishOutcome, error) {
	// A step-run id that is not an id names no step-run (its outcome is ErrNotFound).
	ids, tenants := make([]string, 0, len(results)), make([]string, 0, len(results))
	for _, r := range results {
		if store.ValidID(r.StepRunID) {
			ids, tenants = append(ids, r.StepRunID), append(tenants, r.TenantID)
		}
	}
	var out []store.FinishOutcome
	err := s.txWake(ctx, "finishing steps", func(tx pgx.Tx) (*pgx.Batch, []store.WorkKey, error) {
		out = make([]store.FinishOutcome, len(results))
		fb, err := loadFinishBatch(ctx, tx, nil, `SELECT id, status FROM runs WHERE id IN
			(SELECT s.run_id FROM step_runs s JOIN unnest($1::uuid[], $2::uuid[]) AS r(id, tenant_id)
				ON s.id = r.id AND s.tenant_id = r.tenant_id)
			ORDER BY id FOR UPDATE`, ids, tenants)
		if err != nil {
			return nil, nil, err
		}
		var keys []store.WorkKey
		for i, res := range results {
			out[i] = fb.apply(res)
			keys = append(keys, readyNow(out[i], res.At)...)
		}
		return fb.writes(), keys, nil
	})
	return out, err
}

// loadFinishBatch locks runs with lockSQL (which returns each locked run's id and status,
// in id order so that concurrent batches cannot deadlock on them), then locks those of the
// step-runs lockSteps that belong to them, and reads all their step-runs: a new snapshot,
// which sees what the holders of the locks it waited for committed. Heartbeats lock only
// step-runs, so lockSteps makes a heartbeat either commit before the read (and be seen)
// or wait for this transaction (and find what it wrote).
func loadFinishBatch(ctx context.Context, tx pgx.Tx, lockSteps []string, lockSQL string, args ...any) (*finishBatch, error) {
	fb := &finishBatch{runStatus: map[string]string{}, steps: map[string]*store.StepRun{}, byRun: map[string][]*store.StepRun{},
		dirty: map[string]bool{}, available: map[string]time.Time{}, runEnds: map[string]runEnd{}}
	rows, err := tx.Query(ctx, lockSQL, args...)
	if err != nil {
		return nil, err
	}
	var runIDs []string
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			rows.Close()
			return nil, err
		}
		fb.runStatus[id] = status
		runIDs = append(runIDs, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(runIDs) == 0 {
		return fb, err
	}
	if len(lockSteps) > 0 {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM step_runs WHERE id = ANY($1::uuid[]) AND run_id = ANY($2::uuid[]) ORDER BY id FOR UPDATE`,
			lockSteps, runIDs); err != nil {
			return nil, err
		}
	}
	rows, err = tx.Query(ctx, `SELECT `+stepCols+` FROM step_runs WHERE run_id = ANY($1) ORDER BY run_id, position`, runIDs)
	if err != nil {
		return nil, err
	}
	steps, err := collect(rows, scanStep)
	if err != nil {
		return nil, err
	}
	for i := range steps {
		st := &steps[i]
		fb.steps[st.ID] = st
		fb.byRun[st.RunID] = append(fb.byRun[st.RunID], st)
	}
	return fb, nil
}

// runEnd is a run's final status; a nil errMsg keeps the run's error.
type runEnd struct {
	status string
	errMsg *string
	at     time.Time
}

// finishBatch is the state of the runs a FinishSteps call touches, changed in memory and
// written at the end.
type finishBatch struct {
	runStatus map[string]string
	steps     map[string]*store.StepRun
	byRun     map[string][]*store.StepRun // in position order
	dirty     map[string]bool             // step-runs to write back
	order     []string                    // dirty step-runs in the order they changed
	available map[string]time.Time        // when step-runs queued (again) become claimable
	runEnds   map[string]runEnd
}

func (fb *finishBatch) touch(st *store.StepRun) {
	if !fb.dirty[st.ID] {
		fb.dirty[st.ID] = true
		fb.order = append(fb.order, st.ID)
	}
}

// apply records one result against the batch's state.
func (fb *finishBatch) apply(res store.StepResult) store.FinishOutcome {
	o := store.FinishOutcome{StepRunID: res.StepRunID}
	st := fb.steps[res.StepRunID]
	if st == nil || st.TenantID != res.TenantID {
		o.Err = store.ErrNotFound
		return o
	}
	o.RunID = st.RunID
	if st.Status != store.StepRunning || st.LeaseID != res.LeaseID || st.DeadlineAt == nil || res.At.After(*st.DeadlineAt) {
		o.Err = store.ErrStaleLease
		return o
	}
	if st.StartedAt != nil {
		o.StartedAt = *st.StartedAt
	}
	if res.Succeeded {
		fb.succeed(st, res.Output, res.At, &o)
	} else {
		fb.fail(st, res.Error, res.Retryable, res.At, &o)
	}
	return o
}

func (fb *finishBatch) queue(st *store.StepRun, avail time.Time, o *store.FinishOutcome) {
	fb.available[st.ID] = avail
	o.Queued = append(o.Queued, store.QueuedWork{WorkKey: store.WorkKey{TenantID: st.TenantID, Workflow: st.WorkflowName}, AvailableAt: avail})
}

func (fb *finishBatch) succeed(st *store.StepRun, output json.RawMessage, at time.Time, o *store.FinishOutcome) {
	t := at
	st.Status, st.Output, st.Error, st.FinishedAt, st.LeaseID = store.StepSucceeded, output, "", &t, ""
	fb.touch(st)
	siblings := fb.byRun[st.RunID]
	view := make([]store.StepRun, len(siblings))
	for i, sib := range siblings {
		view[i] = *sib
	}
	children, done := store.AfterSuccess(view, st.Step)
	for _, ch := range children {
		c := fb.steps[ch.Step.ID]
		c.PendingParents = ch.PendingParents
		if ch.Ready {
			c.Status, c.QueuedAt = store.StepQueued, &t
			fb.queue(c, at, o)
		}
		fb.touch(c)
	}
	o.RunStatus = store.RunRunning
	if done {
		o.RunStatus = store.RunSucceeded
		if rs := fb.runStatus[st.RunID]; rs == store.RunQueued || rs == store.RunRunning {
			fb.runStatus[st.RunID] = store.RunSucceeded
			fb.runEnds[st.RunID] = runEnd{status: store.RunSucceeded, at: at}
		}
	}
}

func (fb *finishBatch) fail(st *store.StepRun, msg string, retryable bool, at time.Time, o *store.FinishOutcome) {
	t := at
	o.RunStatus = store.RunRunning
	if retryable && st.Attempt < st.MaxAttempts {
		st.Status, st.Error, st.LeaseID, st.QueuedAt = store.StepQueued, msg, "", &t
		fb.touch(st)
		fb.queue(st, at.Add(st.Retry.Backoff(st.Attempt)), o)
		return
	}
	st.Status, st.Error, st.FinishedAt, st.LeaseID = store.StepFailed, msg, &t, ""
	fb.touch(st)
	o.RunStatus = store.RunFailed
	runErr := fmt.Sprintf("step %s failed: %s", st.Step, msg)
	fb.runStatus[st.RunID] = store.RunFailed
	fb.runEnds[st.RunID] = runEnd{status: store.RunFailed, errMsg: &runErr, at: at}
	// The run ends: every step that has not ended is cancelled (which takes a queued one
	// out of the ready queue).
	for _, sib := range fb.byRun[st.RunID] {
		switch sib.Status {
		case store.StepPending, store.StepQueued, store.StepRunning:
		default:
			continue
		}
		sib.Status, sib.FinishedAt, sib.LeaseID = store.StepCancelled, &t, ""
		fb.touch(sib)
	}
}

// requeueLost queues st again at once after its worker was lost (its lease expired before
// the deadline): the attempt is not counted, the loss is.
func (fb *finishBatch) requeueLost(st *store.StepRun, at time.Time, o *store.FinishOutcome) {
	t := at
	o.RunStatus = store.RunRunning
	st.Status, st.Attempt, st.LeaseLosses, st.LeaseID, st.Error, st.QueuedAt = store.StepQueued, st.Attempt-1, st.LeaseLosses+1, "", store.LeaseLostMessage, &t
	fb.touch(st)
	fb.queue(st, at, o)
}

// writes returns the statements that write every change.
func (fb *finishBatch) writes() *pgx.Batch {
	b := &pgx.Batch{}
	if n := len(fb.order); n > 0 {
		var (
			ids, statuses, errs       []string
			outputs, leases           []*string
			finished, queued, avail   []*time.Time
			pending, attempts, losses []int32
		)
		for _, id := range fb.order {
			st := fb.steps[id]
			ids, statuses, errs = append(ids, id), append(statuses, st.Status), append(errs, st.Error)
			var out, lease *string
			if st.Output != nil {
				v := string(st.Output)
				out = &v
			}
			if st.LeaseID != "" {
				v := st.LeaseID
				lease = &v
			}
			outputs, leases = append(outputs, out), append(leases, lease)
			finished, queued = append(finished, st.FinishedAt), append(queued, st.QueuedAt)
			var at *time.Time
			if t, ok := fb.available[id]; ok {
				at = &t
			}
			avail = append(avail, at)
			pending = append(pending, int32(st.PendingParents))
			attempts, losses = append(attempts, int32(st.Attempt)), append(losses, int32(st.LeaseLosses))
		}
		b.Queue(`UPDATE step_runs s SET status = u.status, output = u.output::jsonb, error = u.error, finished_at = u.finished_at,
				lease_id = u.lease_id, pending_parents = u.pending, queued_at = u.queued_at, attempt = u.attempt, lease_losses = u.losses,
				available_at = COALESCE(u.available_at, s.available_at)
			FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::int[], $8::timestamptz[],
				$9::int[], $10::int[], $11::timestamptz[])
				AS u(id, status, output, error, finished_at, lease_id, pending, queued_at, attempt, losses, available_at)
			WHERE s.id = u.id`, ids, statuses, outputs, errs, finished, leases, pending, queued, attempts, losses, avail)
	}
	if len(fb.runEnds) > 0 {
		var ids, statuses []string
		var errs []*string
		var at []time.Time
		for id, e := range fb.runEnds {
			ids, statuses, errs, at = append(ids, id), append(statuses, e.status), append(errs, e.errMsg), append(at, e.at)
		}
		b.Queue(`UPDATE runs r SET status = u.status, error = COALESCE(u.error, r.error), finished_at = u.finished_at
			FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS u(id, status, error, finished_at)
			WHERE r.id = u.id`, ids, statuses, errs, at)
	}
	return b
}
