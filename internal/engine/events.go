package engine

import (
	"context"
	"errors"

	"github.com/heraldhq/herald/internal/store"
)

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
	return e.store.ScheduledCancel(ctx, store.ScheduledCancelParams{TenantID: tenantID, ID: id, At: e.now()})
}

// CancelRun cancels a run that has not ended.
func (e *Engine) CancelRun(ctx context.Context, tenantID, id string) (store.Run, error) {
	r, err := e.store.RunCancel(ctx, store.RunCancelParams{TenantID: tenantID, ID: id, At: e.now()})
	if err == nil {
		e.cfg.Observer.RunsFinished(store.RunCancelled, 1)
	}
	return r, err
}
