package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// deliverer is the duty that delivers delayed events when they are due (DeliverDue),
// woken by ingest through its scheduler. Each pass sends Signals.Delivered.
type deliverer struct {
	*base
	ingest *ingest
	sched  *scheduler
	loops  loopGroup
}

func (dv *deliverer) start() { dv.loops.run(dv.dispatchScheduled) }
func (dv *deliverer) stop()  { dv.loops.halt() }

// scheduledBatch is how many due events one claim takes (see also deliveryClaim and
// MaxDeliveryAttempts).
const scheduledBatch = 500

// scheduler wakes the delivery loop of delayed events: at the earliest due time it knows,
// and at once when an event due earlier than that is scheduled through this engine.
type scheduler struct {
	mu   sync.Mutex
	next time.Time // the earliest due time the loop waits for; zero when none
	kick chan struct{}
}

// note tells the loop that an event is due at t.
func (s *scheduler) note(t time.Time) {
	s.mu.Lock()
	earlier := s.next.IsZero() || t.Before(s.next)
	if earlier {
		s.next = t
	}
	s.mu.Unlock()
	if earlier {
		kick(s.kick)
	}
}

// dispatchScheduled is the delivery loop of delayed events. It sleeps until the earliest
// due time it knows of — a timer that scheduling an earlier event through this engine
// resets — and in any case at most a sweep interval, so that events scheduled through
// other replicas, and claims left by a replica that died, are found within that.
func (dv *deliverer) dispatchScheduled(ctx context.Context) {
	s := dv.sched
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastPrune time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.kick:
		}
		from := dv.now()
		if _, err := dv.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			dv.log.Warn("delivering delayed events", "err", err)
		}
		wait := dv.cfg.SweepInterval
		next, ok, err := dv.store.ScheduledNext(ctx, from)
		if err != nil && ctx.Err() == nil {
			dv.log.Warn("finding the next delayed event", "err", err)
		}
		s.mu.Lock()
		s.next = time.Time{}
		if ok {
			s.next = next
			if d := time.Until(next); d < wait {
				wait = max(d, 0)
			}
		}
		s.mu.Unlock()
		if dv.cfg.Retention > 0 && time.Since(lastPrune) >= dv.cfg.RetentionInterval {
			lastPrune = time.Now()
			dv.pruneScheduled(ctx)
		}
		dv.cfg.Signals.delivered()
		timer.Reset(wait)
	}
}

// pruneScheduled deletes cancelled and failed delayed events older than the retention.
func (dv *deliverer) pruneScheduled(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := dv.store.ScheduledPrune(ctx, dv.now().Add(-dv.cfg.Retention), dv.cfg.RetentionBatch)
		if err != nil {
			if ctx.Err() == nil {
				dv.log.Warn("pruning delayed events", "err", err)
			}
			return
		}
		if n < dv.cfg.RetentionBatch {
			return
		}
	}
}

// DeliverDue delivers every delayed event due now. It claims them and pushes each through
// the normal ingest path with its own id, matched against the workflows as they are now:
// first, one claim and one transaction each, the events claimed before whose delivery
// did not complete (one of them may be what ended the process that claimed it: alone,
// it counts its own attempts, not its neighbours'), then the others, batch after batch.
// The transaction that stores an event deletes its scheduled row, so an event cancelled
// meanwhile, or delivered by another replica, is dropped (the commit conflicts). An event
// that cannot be delivered is marked failed with the reason: it was refused at delivery
// (say its payload no longer conforms to its key's schema), its delivery panicked, or it
// had been claimed MaxDeliveryAttempts times already. It returns how many events it
// delivered.
func (dv *deliverer) DeliverDue(ctx context.Context) (int, error) {
	delivered := 0
	err := dv.claimRounds(scheduledBatch, func(c store.DeliveryClaim) (int, error) {
		due, err := dv.store.ScheduledClaim(ctx, c)
		if err != nil {
			return 0, fmt.Errorf("claiming due events: %w", err)
		}
		n, err := dv.deliverClaimed(ctx, due)
		delivered += n
		return len(due), err
	})
	return delivered, err
}

// scheduledKind ends delayed events.
func (dv *deliverer) scheduledKind() storedKind {
	return storedKind{
		name: "delayed event",
		fail: func(ctx context.Context, id, reason string) error {
			return dv.store.ScheduledFail(ctx, store.ScheduledFailParams{ID: id, Reason: reason, At: dv.now()})
		},
		release: dv.store.ScheduledRelease,
	}
}

// deliverClaimed fails the claimed events that used up their attempts and delivers the
// others, each tenant's in one transaction (pushClaimed). When a delivery is abandoned,
// the events of the tenants not tried yet give their attempts back too.
func (dv *deliverer) deliverClaimed(ctx context.Context, due []store.ScheduledEvent) (int, error) {
	k := dv.scheduledKind()
	byTenant := map[string][]EventInput{}
	var order []string
	for i := range due {
		s := due[i]
		if exhausted(s.Attempts) {
			if err := dv.ingest.failExhausted(ctx, k, s.ID, s.Key); err != nil {
				return 0, err
			}
			continue
		}
		if _, seen := byTenant[s.TenantID]; !seen {
			order = append(order, s.TenantID)
		}
		byTenant[s.TenantID] = append(byTenant[s.TenantID],
			EventInput{ID: s.ID, Key: s.Key, Payload: s.Payload, Metadata: s.Metadata, Scope: s.Scope, Origin: fromScheduled(&s)})
	}
	delivered := 0
	for i, tid := range order {
		n, err := dv.ingest.pushClaimed(ctx, k, tid, byTenant[tid])
		delivered += n
		if err != nil {
			var rest []string
			for _, later := range order[i+1:] {
				for _, in := range byTenant[later] {
					rest = append(rest, in.ID)
				}
			}
			dv.ingest.release(ctx, k.name, rest, k.release)
			return delivered, err
		}
	}
	return delivered, nil
}
