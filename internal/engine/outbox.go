package engine

import (
	"context"
	"errors"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// relayOutbox moves events that applications wrote into the transactional outbox (in
// their own transactions) into the event log, triggering workflows like any push. Each
// entry is moved in one transaction that deletes it and inserts the event and its runs;
// the entry's id is the event's id, so two replicas relaying the same entry cannot
// create it twice (the second insert conflicts and is dropped).
func (e *Engine) relayOutbox(ctx context.Context, ob store.Outbox, kicked <-chan struct{}) {
	t := time.NewTicker(e.cfg.SweepInterval)
	defer t.Stop()
	tenants := map[string]string{} // name → id
	for {
		for {
			n, err := e.relayOnce(ctx, ob, tenants)
			if err != nil {
				if ctx.Err() == nil {
					e.log.Warn("relaying outbox", "err", err)
				}
				break
			}
			if n < outboxBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-kicked:
		case <-t.C:
		}
	}
}

const outboxBatch = 500

// relayOnce relays one batch of outbox entries and returns how many it read.
func (e *Engine) relayOnce(ctx context.Context, ob store.Outbox, tenants map[string]string) (int, error) {
	entries, err := ob.ListOutbox(ctx, outboxBatch)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	byTenant := map[string][]EventInput{}
	var order []string
	for _, en := range entries {
		tid, ok := tenants[en.Tenant]
		if !ok {
			t, err := e.store.GetTenantByName(ctx, en.Tenant)
			if errors.Is(err, store.ErrNotFound) {
				if err := ob.RejectOutbox(ctx, en.ID, "no tenant named "+en.Tenant); err != nil {
					return 0, err
				}
				continue
			}
			if err != nil {
				return 0, err
			}
			tid = t.ID
			tenants[en.Tenant] = tid
		}
		if _, seen := byTenant[tid]; !seen {
			order = append(order, tid)
		}
		byTenant[tid] = append(byTenant[tid], EventInput{ID: en.ID, OutboxID: en.ID, Key: en.Key, Payload: en.Payload, Metadata: en.Metadata})
	}
	for _, tid := range order {
		evs := byTenant[tid]
		for len(evs) > 0 {
			chunk := evs[:min(len(evs), MaxBulk)]
			evs = evs[len(chunk):]
			if _, err := e.Push(ctx, tid, chunk, true); err == nil || !e.relayEach(ctx, ob, tid, chunk, err) {
				if err != nil && !isBadInput(err) && !errors.Is(err, store.ErrConflict) {
					return 0, err
				}
			}
		}
	}
	return len(entries), nil
}

// relayEach retries a failed chunk one entry at a time, rejecting the invalid ones and
// dropping those another replica already relayed. It reports whether it handled err.
func (e *Engine) relayEach(ctx context.Context, ob store.Outbox, tenantID string, chunk []EventInput, err error) bool {
	if !isBadInput(err) && !errors.Is(err, store.ErrConflict) {
		return false
	}
	for _, in := range chunk {
		_, err := e.Push(ctx, tenantID, []EventInput{in}, false)
		switch {
		case err == nil, errors.Is(err, store.ErrConflict):
		case isBadInput(err):
			if rerr := ob.RejectOutbox(ctx, in.OutboxID, err.Error()); rerr != nil {
				e.log.Warn("rejecting outbox entry", "id", in.OutboxID, "err", rerr)
			}
		default:
			e.log.Warn("relaying outbox entry", "id", in.OutboxID, "err", err)
		}
	}
	return true
}

func isBadInput(err error) bool {
	var fe *FieldError
	return errors.As(err, &fe)
}
