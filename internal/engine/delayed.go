package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// MaxDelay is how far ahead an event may be delayed.
const MaxDelay = 365 * 24 * time.Hour

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
func (ig *ingest) delayItem(item *store.IngestItem, in EventInput, at time.Time) (PushResult, bool) {
	if in.DeliverAt.IsZero() || !in.DeliverAt.After(at) || item.ScheduledID != "" {
		return PushResult{}, false
	}
	item.DeliverAt = in.DeliverAt
	if item.IdempotencyKey != "" {
		item.IdempotencyExpiresAt = in.DeliverAt.Add(ig.cfg.IdempotencyWindow)
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
func (ig *ingest) idempotentOriginal(ctx context.Context, tenantID, key string, at time.Time) (PushResult, bool, error) {
	orig, err := ig.store.EventGetIdempotent(ctx, store.IdempotencyParams{TenantID: tenantID, Key: key, At: at})
	if err == nil {
		return duplicateResult(orig), true, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return PushResult{}, false, fmt.Errorf("looking up idempotency key: %w", err)
	}
	s, err := ig.store.ScheduledGetIdempotent(ctx, store.IdempotencyParams{TenantID: tenantID, Key: key, At: at})
	if errors.Is(err, store.ErrNotFound) {
		return PushResult{}, false, nil
	}
	if err != nil {
		return PushResult{}, false, fmt.Errorf("looking up idempotency key: %w", err)
	}
	return scheduledDuplicate(s), true, nil
}

// restoreOrigin gives an event delivered from a delayed one the origin it was pushed
// with: its lineage was checked when it was scheduled, and is not checked again (the
// parent run may have been pruned since).
func restoreOrigin(ev *store.Event, s *store.ScheduledEvent) {
	ev.Source, ev.ParentRunID, ev.ParentStepRunID, ev.ParentStep = s.Source, s.ParentRunID, s.ParentStepRunID, s.ParentStep
}
