package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// relay is the outbox duty: it moves what applications wrote into a store's
// transactional outbox into the event log (relayOutbox). It runs only on a store with an
// outbox; each pass sends Signals.Relayed.
type relay struct {
	*base
	ingest *ingest
	outbox store.Outbox  // nil: the store has none
	kick   chan struct{} // the store's notification that entries arrived
	loops  loopGroup
}

func (rl *relay) start() {
	if rl.outbox != nil {
		rl.loops.run(func(ctx context.Context) { rl.relayOutbox(ctx, rl.outbox, rl.kick) })
	}
}

func (rl *relay) stop() { rl.loops.halt() }

// relayOutbox moves events that applications wrote into the transactional outbox (in
// their own transactions) into the event log, triggering workflows like any push. Each
// entry is moved in one transaction that deletes it and inserts the event and its runs;
// the entry's id is the event's id, so two replicas relaying the same entry cannot
// create it twice (the second insert conflicts and is dropped).
func (rl *relay) relayOutbox(ctx context.Context, ob store.Outbox, kicked <-chan struct{}) {
	t := time.NewTicker(rl.cfg.SweepInterval)
	defer t.Stop()
	tenants := map[string]string{} // name → id
	for {
		if err := rl.relayPending(ctx, ob, tenants); err != nil && ctx.Err() == nil {
			rl.log.Warn("relaying outbox", "err", err)
		}
		rl.cfg.Signals.relayed()
		select {
		case <-ctx.Done():
			return
		case <-kicked:
		case <-t.C:
		}
	}
}

const outboxBatch = 500

// relayPending relays every pending outbox entry as DeliverDue delivers delayed events:
// first, one claim and one transaction each, the entries claimed before whose relay did
// not complete, then the others, batch after batch.
func (rl *relay) relayPending(ctx context.Context, ob store.Outbox, tenants map[string]string) error {
	return rl.claimRounds(outboxBatch, func(c store.DeliveryClaim) (int, error) {
		entries, err := ob.OutboxClaim(ctx, c)
		if err != nil {
			return 0, fmt.Errorf("claiming outbox entries: %w", err)
		}
		return len(entries), rl.relayClaimed(ctx, ob, tenants, entries)
	})
}

// outboxKind ends outbox entries: a failed entry gets its error set and stays for
// inspection.
func outboxKind(ob store.Outbox) storedKind {
	return storedKind{name: "outbox entry", fail: ob.OutboxReject, release: ob.OutboxRelease}
}

// relayClaimed refuses the claimed entries that used up their attempts or name no
// tenant, and relays the others, each tenant's in transactions of up to MaxBulk entries
// (pushClaimed). When a relay is abandoned, the entries not tried yet give their
// attempts back too.
func (rl *relay) relayClaimed(ctx context.Context, ob store.Outbox, tenants map[string]string, entries []store.OutboxEntry) error {
	k := outboxKind(ob)
	abandon := func(err error) error {
		ids := make([]string, len(entries))
		for i, en := range entries {
			ids[i] = en.ID // refused or relayed entries are left as they are
		}
		rl.ingest.release(ctx, k.name, ids, k.release)
		return err
	}
	byTenant := map[string][]EventInput{}
	var order []string
	for _, en := range entries {
		if exhausted(en.Attempts) {
			if err := rl.ingest.failExhausted(ctx, k, en.ID, en.Key); err != nil {
				return abandon(err)
			}
			continue
		}
		tid, ok := tenants[en.Tenant]
		if !ok {
			t, err := rl.store.TenantGetByName(ctx, en.Tenant)
			if errors.Is(err, store.ErrNotFound) {
				if err := ob.OutboxReject(ctx, en.ID, "no tenant named "+en.Tenant); err != nil {
					return abandon(err)
				}
				continue
			}
			if err != nil {
				return abandon(err)
			}
			tid = t.ID
			tenants[en.Tenant] = tid
		}
		if _, seen := byTenant[tid]; !seen {
			order = append(order, tid)
		}
		byTenant[tid] = append(byTenant[tid], EventInput{ID: en.ID, Origin: FromOutbox(en.ID), Key: en.Key, Payload: en.Payload, Metadata: en.Metadata})
	}
	type chunk struct {
		tenantID string
		ins      []EventInput
	}
	var chunks []chunk
	for _, tid := range order {
		for evs := byTenant[tid]; len(evs) > 0; {
			n := min(len(evs), MaxBulk)
			chunks = append(chunks, chunk{tid, evs[:n]})
			evs = evs[n:]
		}
	}
	for i, c := range chunks {
		if _, err := rl.ingest.pushClaimed(ctx, k, c.tenantID, c.ins); err != nil {
			var rest []string
			for _, later := range chunks[i+1:] {
				for _, in := range later.ins {
					rest = append(rest, in.ID)
				}
			}
			rl.ingest.release(ctx, k.name, rest, k.release)
			return err
		}
	}
	return nil
}

func isBadInput(err error) bool {
	var fe *FieldError
	return errors.As(err, &fe)
}
