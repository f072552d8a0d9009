package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// MaxDelay is how far ahead an event may be delayed.
const MaxDelay = 365 * 24 * time.Hour

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

// schedulerOf returns the engine's scheduler, creating it on first use.
func (e *Engine) schedulerOf() *scheduler {
	e.schedOnce.Do(func() { e.sched = &scheduler{kick: make(chan struct{}, 1)} })
	return e.sched
}

// noteScheduled wakes the delivery loop for the delayed events a commit stored.
func (e *Engine) noteScheduled(items []store.IngestItem) {
	for _, it := range items {
		if !it.DeliverAt.IsZero() {
			e.schedulerOf().note(it.DeliverAt)
		}
	}
}

// checkDeliverAt refuses a delivery time more than MaxDelay after at.
func checkDeliverAt(field string, deliverAt, at time.Time) error {
	if deliverAt.Sub(at) > MaxDelay {
		return fieldErr(field, "is %s ahead; an event can be delayed by at most %s (365 days)",
			deliverAt.Sub(at).Round(time.Second), MaxDelay)
	}
	return nil
}

// delayItem makes item a delayed event when in asks for a delivery after at: the event is
// stored as scheduled, without runs, and its idempotency key (if any) stays live for the
// idempotency window after the delivery time. It reports whether it did. The delivery of
// a delayed event (its item has a ScheduledID) is never delayed again.
func (e *Engine) delayItem(item *store.IngestItem, in EventInput, at time.Time) (PushResult, bool) {
	if in.DeliverAt.IsZero() || !in.DeliverAt.After(at) || item.ScheduledID != "" {
		return PushResult{}, false
	}
	item.DeliverAt = in.DeliverAt
	if item.IdempotencyKey != "" {
		item.IdempotencyExpiresAt = in.DeliverAt.Add(e.cfg.IdempotencyWindow)
	}
	ev := item.Event
	s := &store.ScheduledEvent{
		ID: ev.ID, TenantID: ev.TenantID, Key: ev.Key, Payload: ev.Payload, Metadata: ev.Metadata, Source: ev.Source,
		ParentRunID: ev.ParentRunID, ParentStepRunID: ev.ParentStepRunID, ParentStep: ev.ParentStep, Scope: ev.Scope,
		IdempotencyKey: in.IdempotencyKey, DeliverAt: in.DeliverAt, CreatedAt: ev.CreatedAt, Status: store.ScheduledPending,
	}
	return PushResult{Event: *ev, Runs: []RunRef{}, Scheduled: s}, true
}

// scheduledEvent is the event a delayed event will become.
func scheduledEvent(s store.ScheduledEvent) store.Event {
	return store.Event{
		ID: s.ID, TenantID: s.TenantID, Key: s.Key, Payload: s.Payload, Metadata: s.Metadata, Source: s.Source,
		ParentRunID: s.ParentRunID, ParentStepRunID: s.ParentStepRunID, ParentStep: s.ParentStep, Scope: s.Scope,
		CreatedAt: s.CreatedAt, Triggers: []store.TriggerDecision{},
	}
}

// scheduledDuplicate answers a repeated idempotency key held by a delayed event that has
// not been delivered.
func scheduledDuplicate(s store.ScheduledEvent) PushResult {
	return PushResult{Event: scheduledEvent(s), Runs: []RunRef{}, Duplicate: true, Scheduled: &s}
}

// idempotentOriginal finds what holds a live idempotency key of the tenant at time at:
// a stored event, or a delayed event not delivered yet. ok is false when the key is free.
func (e *Engine) idempotentOriginal(ctx context.Context, tenantID, key string, at time.Time) (PushResult, bool, error) {
	orig, err := e.store.EventGetIdempotent(ctx, tenantID, key, at)
	if err == nil {
		return duplicateResult(orig), true, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return PushResult{}, false, fmt.Errorf("looking up idempotency key: %w", err)
	}
	s, err := e.store.ScheduledGetIdempotent(ctx, tenantID, key, at)
	if errors.Is(err, store.ErrNotFound) {
		return PushResult{}, false, nil
	}
	if err != nil {
		return PushResult{}, false, fmt.Errorf("looking up idempotency key: %w", err)
	}
	return scheduledDuplicate(s), true, nil
}

// GetEvent returns a stored event of the tenant or, when it is a delayed event not
// delivered (or cancelled, or failed), that one as sched. A delivery inserts the event and
// deletes its scheduled row in one transaction: when neither read finds it, it may have
// been delivered between the two, so the event is read again.
func (e *Engine) GetEvent(ctx context.Context, tenantID, id string) (ev store.Event, sched *store.ScheduledEvent, err error) {
	ev, err = e.store.EventGet(ctx, tenantID, id)
	if !errors.Is(err, store.ErrNotFound) {
		return ev, nil, err
	}
	s, err := e.store.ScheduledGet(ctx, tenantID, id)
	if err == nil {
		return store.Event{}, &s, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.Event{}, nil, err
	}
	ev, err = e.store.EventGet(ctx, tenantID, id)
	return ev, nil, err
}

// CancelScheduled cancels a delayed event before its delivery. It fails with
// store.ErrConflict when the event was already delivered, cancelled or failed, and with
// store.ErrNotFound when the tenant has no such event.
func (e *Engine) CancelScheduled(ctx context.Context, tenantID, id string) (store.ScheduledEvent, error) {
	return e.store.ScheduledCancel(ctx, tenantID, id, e.now())
}

// dispatchScheduled is the delivery loop of delayed events. It sleeps until the earliest
// due time it knows of — a timer that scheduling an earlier event through this engine
// resets — and in any case at most a sweep interval, so that events scheduled through
// other replicas, and claims left by a replica that died, are found within that.
func (e *Engine) dispatchScheduled(ctx context.Context) {
	s := e.schedulerOf()
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
		from := e.now()
		if _, err := e.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("delivering delayed events", "err", err)
		}
		wait := e.cfg.SweepInterval
		next, ok, err := e.store.ScheduledNext(ctx, from)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("finding the next delayed event", "err", err)
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
		if e.cfg.Retention > 0 && time.Since(lastPrune) >= e.cfg.RetentionInterval {
			lastPrune = time.Now()
			e.pruneScheduled(ctx)
		}
		e.cfg.Signals.delivered()
		timer.Reset(wait)
	}
}

// pruneScheduled deletes cancelled and failed delayed events older than the retention.
func (e *Engine) pruneScheduled(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := e.store.ScheduledPrune(ctx, e.now().Add(-e.cfg.Retention), e.cfg.RetentionBatch)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("pruning delayed events", "err", err)
			}
			return
		}
		if n < e.cfg.RetentionBatch {
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
func (e *Engine) DeliverDue(ctx context.Context) (int, error) {
	delivered := 0
	for _, retried := range []bool{true, false} {
		limit := scheduledBatch
		if retried {
			limit = 1
		}
		for {
			at := e.now()
			due, err := e.store.ScheduledClaim(ctx, store.DeliveryClaim{Now: at, Until: at.Add(e.claimFor), Limit: limit, Retried: retried})
			if err != nil {
				return delivered, fmt.Errorf("claiming due events: %w", err)
			}
			n, err := e.deliverClaimed(ctx, due)
			delivered += n
			if err != nil {
				return delivered, err
			}
			if len(due) < limit {
				break
			}
		}
	}
	return delivered, nil
}

// scheduledKind ends delayed events.
func (e *Engine) scheduledKind() storedKind {
	return storedKind{
		name: "delayed event",
		fail: func(ctx context.Context, id, reason string) error {
			return e.store.ScheduledFail(ctx, id, reason, e.now())
		},
		release: e.store.ScheduledRelease,
	}
}

// deliverClaimed fails the claimed events that used up their attempts and delivers the
// others, each tenant's in one transaction (pushClaimed). When a delivery is abandoned,
// the events of the tenants not tried yet give their attempts back too.
func (e *Engine) deliverClaimed(ctx context.Context, due []store.ScheduledEvent) (int, error) {
	k := e.scheduledKind()
	byTenant := map[string][]EventInput{}
	var order []string
	for i := range due {
		s := due[i]
		if exhausted(s.Attempts) {
			if err := e.failExhausted(ctx, k, s.ID, s.Key); err != nil {
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
		n, err := e.pushClaimed(ctx, k, tid, byTenant[tid])
		delivered += n
		if err != nil {
			var rest []string
			for _, later := range order[i+1:] {
				for _, in := range byTenant[later] {
					rest = append(rest, in.ID)
				}
			}
			e.release(ctx, k.name, rest, k.release)
			return delivered, err
		}
	}
	return delivered, nil
}

// restoreOrigin gives an event delivered from a delayed one the origin it was pushed
// with: its lineage was checked when it was scheduled, and is not checked again (the
// parent run may have been pruned since).
func restoreOrigin(ev *store.Event, s *store.ScheduledEvent) {
	ev.Source, ev.ParentRunID, ev.ParentStepRunID, ev.ParentStep = s.Source, s.ParentRunID, s.ParentStepRunID, s.ParentStep
}
