package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// retainer is the retention duty: when Config.Retention is set, at start and every
// RetentionInterval it prunes what is older. Each pass sends Signals.Pruned.
type retainer struct {
	*base
	loops loopGroup
}

func (rt *retainer) start() {
	if rt.cfg.Retention > 0 {
		rt.loops.run(rt.retain)
	}
}

func (rt *retainer) stop() { rt.loops.halt() }

// retain runs the retention duty: at start and every RetentionInterval, it prunes what is
// older than Retention.
func (rt *retainer) retain(ctx context.Context) {
	t := time.NewTicker(rt.cfg.RetentionInterval)
	defer t.Stop()
	for {
		if _, err := rt.PruneOnce(ctx, rt.now()); err != nil && ctx.Err() == nil {
			rt.log.Warn("pruning old data failed", "err", err)
		}
		rt.cfg.Signals.pruned()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PruneOnce deletes, batch after batch of RetentionBatch rows per kind and transaction,
// the events, ended runs and webhook deliveries created before at − Retention, and the
// dashboard sessions expired at at. Ingest goes on between batches. It returns what it
// deleted.
func (rt *retainer) PruneOnce(ctx context.Context, at time.Time) (store.PruneResult, error) {
	var total store.PruneResult
	if rt.cfg.Retention <= 0 {
		return total, nil
	}
	p := store.PruneParams{Before: at.Add(-rt.cfg.Retention), Now: at, Limit: rt.cfg.RetentionBatch}
	for ctx.Err() == nil {
		r, err := rt.store.Prune(ctx, p)
		total.Events += r.Events
		total.Runs += r.Runs
		total.Deliveries += r.Deliveries
		total.Sessions += r.Sessions
		total.IdempotencyKeys += r.IdempotencyKeys
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return total, nil
			}
			return total, fmt.Errorf("pruning: %w", err)
		}
		if r.Events < p.Limit && r.Runs < p.Limit && r.Deliveries < p.Limit && r.Sessions < p.Limit && r.IdempotencyKeys < p.Limit {
			break
		}
	}
	if total.Total() > 0 {
		rt.log.Info("pruned old data", "before", p.Before, "events", total.Events, "runs", total.Runs,
			"deliveries", total.Deliveries, "sessions", total.Sessions, "idempotency_keys", total.IdempotencyKeys)
	}
	return total, nil
}
