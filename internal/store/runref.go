package store

import "github.com/heraldhq/herald/internal/wire"

// RunRef names a run an event (or a manual start) created: the API's RunRef.
type RunRef = wire.RunRef

// Runs names the runs the event started, from its trigger decisions.
func (e Event) Runs() []RunRef {
	refs := []RunRef{}
	for _, t := range e.Triggers {
		if t.RunID != "" {
			refs = append(refs, RunRef{Workflow: t.Workflow, Version: t.Version, RunID: t.RunID})
		}
	}
	return refs
}
