package engine

import (
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// matchEvent decides what ev does to every workflow of its tenant whose trigger matches
// its key: it records a TriggerDecision per such workflow on ev and returns the runs to
// create with the event, and references to them (never nil).
func (e *Engine) matchEvent(ix *triggerIndex, ev *store.Event, at time.Time) ([]store.IngestRun, []RunRef) {
	var runs []store.IngestRun
	refs := []RunRef{}
	for _, wf := range ix.match(ev.TenantID, ev.Key) {
		if !wf.Active {
			ev.Triggers = append(ev.Triggers, store.TriggerDecision{Workflow: wf.Name, Version: wf.Version, Skipped: "disabled"})
			continue
		}
		run := newRun(wf, ev.ID, ev.Payload, at)
		runs = append(runs, run)
		ev.Triggers = append(ev.Triggers, store.TriggerDecision{Workflow: wf.Name, Version: wf.Version, RunID: run.Run.ID})
		refs = append(refs, RunRef{Workflow: wf.Name, Version: wf.Version, RunID: run.Run.ID})
	}
	return runs, refs
}
