package store

// RunRef names a run an event (or a manual start) created.
type RunRef struct {
	Workflow string `json:"workflow"`
	Version  int    `json:"version"`
	RunID    string `json:"run_id"`
}

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
