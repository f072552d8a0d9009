package store

import "time"

// PruneParams are the arguments of Prune.
type PruneParams struct {
	// Before: rows created before it are deleted.
	Before time.Time
	// Now: sessions and idempotency keys expired at it are deleted.
	Now time.Time
	// Limit caps the rows of each kind deleted by one call (one transaction each).
	Limit int
}

// PruneResult counts what Prune deleted.
type PruneResult struct {
	Events     int
	Runs       int // with their step-runs
	Deliveries int
	Sessions   int
	// IdempotencyKeys counts expired idempotency keys.
	IdempotencyKeys int
}

// Total is the number of rows Prune deleted (step-runs aside).
func (r PruneResult) Total() int {
	return r.Events + r.Runs + r.Deliveries + r.Sessions + r.IdempotencyKeys
}
