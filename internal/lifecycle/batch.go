package lifecycle

import (
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// Batch applies decisions to the runs of one transaction in memory, each seeing the
// changes of those before it, and merges what they write: several results for steps of
// one run, in one batch, see each other (a child is queued exactly when its last parent
// succeeds, a run ends once, a result for a step its run's failure cancelled is stale).
type Batch struct {
	runs  map[string]*RunState
	steps map[string]*store.StepRun
	// from is each step-run's status as read.
	from map[string]string
	// changed marks the step-runs to write; order lists them in the order they first
	// changed.
	changed map[string]bool
	order   []string
	// available holds when step-runs the decisions queued become claimable.
	available map[string]time.Time
	ends      map[string]RunEnd
	endOrder  []string
}

// NewBatch starts a batch over runs, as read by the transaction. The batch changes them
// in place: they must not be used for anything else (a transaction that is retried reads
// them again).
func NewBatch(runs []RunState) *Batch {
	b := &Batch{runs: make(map[string]*RunState, len(runs)), steps: map[string]*store.StepRun{}, from: map[string]string{},
		changed: map[string]bool{}, available: map[string]time.Time{}, ends: map[string]RunEnd{}}
	for i := range runs {
		r := &runs[i]
		b.runs[r.ID] = r
		for j := range r.Steps {
			st := &r.Steps[j]
			b.steps[st.ID], b.from[st.ID] = st, st.Status
		}
	}
	return b
}

// touch marks st to be written.
func (b *Batch) touch(st *store.StepRun) {
	if !b.changed[st.ID] {
		b.changed[st.ID] = true
		b.order = append(b.order, st.ID)
	}
}

// queue makes st claimable at avail and adds its queue to the outcome.
func (b *Batch) queue(st *store.StepRun, avail time.Time, o *store.FinishOutcome) {
	b.available[st.ID] = avail
	o.Queued = append(o.Queued, store.QueuedWork{WorkKey: store.WorkKey{TenantID: st.TenantID, Workflow: st.WorkflowName}, AvailableAt: avail})
}

// Writes returns the last state of every step-run that changed, in the order they first
// changed, and the runs that ended, in the order they ended.
func (b *Batch) Writes() (steps []StepWrite, ends []RunEnd) {
	for _, id := range b.order {
		st := b.steps[id]
		w := StepWrite{ID: st.ID, TenantID: st.TenantID, WorkflowName: st.WorkflowName, From: b.from[id], Status: st.Status,
			Output: st.Output, Error: st.Error, LeaseID: st.LeaseID, PendingParents: st.PendingParents, Attempt: st.Attempt,
			LeaseLosses: st.LeaseLosses, QueuedAt: st.QueuedAt, FinishedAt: st.FinishedAt}
		if t, ok := b.available[id]; ok {
			w.AvailableAt = &t
		}
		steps = append(steps, w)
	}
	for _, id := range b.endOrder {
		ends = append(ends, b.ends[id])
	}
	return steps, ends
}

// change returns the batch's writes as one Change (a batch of one run).
func (b *Batch) change() Change {
	steps, ends := b.Writes()
	c := Change{Steps: steps}
	if len(ends) > 0 {
		c.End = &ends[len(ends)-1]
	}
	return c
}
