package graphql

// SetPlans turns the sendCustomEvent plans on or off.
func (h *Handler) SetPlans(on bool) { h.plans = on }

// PlanRuns is how many requests a plan ran.
func (h *Handler) PlanRuns() int64 { return h.planned.Load() }
