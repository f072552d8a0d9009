package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/webhook"
)

// sweeper is the lease duty: every SweepInterval it expires leases (the step is retried,
// timed out or queued again), wakes the workers of retries that became due, trims the
// webhook delivery logs and refreshes the trigger index if workflows changed elsewhere.
// Each pass sends Signals.Swept.
type sweeper struct {
	*base
	dispatch *dispatch
	receiver *webhook.Receiver
	loops    loopGroup
}

func (sw *sweeper) start() { sw.loops.run(sw.sweep) }
func (sw *sweeper) stop()  { sw.loops.halt() }

// sweep runs the periodic duties: expired leases and retries that became due.
func (sw *sweeper) sweep(ctx context.Context) {
	t := time.NewTicker(sw.cfg.SweepInterval)
	defer t.Stop()
	last := sw.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := sw.now()
		if err := sw.SweepOnce(ctx, last, n); err != nil && ctx.Err() == nil {
			sw.log.Warn("sweep failed", "err", err)
			sw.cfg.Signals.swept()
			continue
		}
		last = n
		sw.cfg.Signals.swept()
	}
}

// SweepOnce expires leases due at upTo, wakes workers for retries that became due in
// (after, upTo], prunes the delivery logs of webhooks that received deliveries, and
// refreshes the trigger index if workflows changed elsewhere.
func (sw *sweeper) SweepOnce(ctx context.Context, after, upTo time.Time) error {
	for {
		start := time.Now()
		outs, err := sw.store.StepExpireLeases(ctx, upTo, 500)
		sw.cfg.Observer.StoreCommit("expire", time.Since(start), err)
		if err != nil {
			return fmt.Errorf("expiring leases: %w", err)
		}
		sw.dispatch.observeRuns(outs, nil)
		for _, o := range outs {
			sw.log.Info("lease expired", "step_run_id", o.StepRunID, "run_id", o.RunID, "run_status", o.RunStatus)
		}
		sw.dispatch.wake(outs)
		if len(outs) < 500 {
			break
		}
	}
	keys, err := sw.store.StepReadySince(ctx, after.Add(-time.Millisecond), upTo)
	if err != nil {
		return err
	}
	for _, k := range keys {
		sw.dispatch.notify(k.TenantID, k.Workflow)
	}
	if err := sw.receiver.PruneDeliveryLogs(ctx); err != nil {
		return err
	}
	return sw.RefreshIndex(ctx, false)
}
