package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/heraldhq/herald/internal/store"
)

// This file holds what the delivery of delayed events (deliver.go) and the relay of
// outbox entries (outbox.go) share: both push items that were stored earlier, and an item
// whose processing ends the process must not be processed again after every restart.

// MaxDeliveryAttempts is how many times a delayed event or an outbox entry may be claimed
// for delivery without being delivered: the claim after that gives up on it (the delayed
// event becomes failed, the outbox entry gets its error) instead of delivering it again.
// Each claim counts an attempt in the statement that claims the item, and a delivered
// item leaves its table, so attempts pile up only on an item whose delivery never
// completes: the process died delivering it (killed for running out of memory, say), or
// its push kept failing. A delivery the engine abandons for a reason of its own (it is
// overloaded or shutting down, the store is unavailable) gives its attempt back.
const MaxDeliveryAttempts = 5

// deliveryClaim is how long a claim on delayed events or outbox entries keeps other
// claims off them. An item claimed by a process that died waits this long before it is
// claimed again.
const deliveryClaim = 10 * time.Second

// claimRounds claims stored items round after round, as the deliverer and the relay do:
// first, one claim each, the items claimed before whose processing did not complete (one
// of them may be what ended the process that claimed it: alone, it counts its own
// attempts, not its neighbours'), then the others, batch items at a time, each round
// until a claim comes back short. round makes the claim it is given, processes what it
// got and returns how many items that was.
func (bs *base) claimRounds(batch int, round func(store.DeliveryClaim) (claimed int, err error)) error {
	for _, retried := range []bool{true, false} {
		limit := batch
		if retried {
			limit = 1
		}
		for {
			at := bs.now()
			n, err := round(store.DeliveryClaim{Now: at, Until: at.Add(bs.claimFor), Limit: limit, Retried: retried})
			if err != nil {
				return err
			}
			if n < limit {
				break
			}
		}
	}
	return nil
}

// exhaustedReason is the error of an item given up on after MaxDeliveryAttempts.
func exhaustedReason() string {
	return fmt.Sprintf("delivery was attempted %d times without completing (the process may have crashed while delivering it)",
		MaxDeliveryAttempts)
}

// exhausted reports whether an item claimed with attempts (this claim included) has used
// up its attempts.
func exhausted(attempts int) bool { return attempts > MaxDeliveryAttempts }

// panicError is a panic recovered while pushing stored items.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// pushStored pushes items that were stored earlier (delayed events, outbox entries) like
// Push, and turns a panic while doing so into a *panicError, so that one item cannot end
// the process. (A panic in the group-commit loop, or running out of memory, still ends
// it: MaxDeliveryAttempts bounds those.)
func (ig *ingest) pushStored(ctx context.Context, tenantID string, ins []EventInput, bulk bool) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	if ig.beforeDelivery != nil {
		for _, in := range ins {
			ig.beforeDelivery(in.Key)
		}
	}
	_, err = ig.Push(ctx, tenantID, ins, bulk)
	return err
}

// abandoned reports whether a push failed for a reason of the engine's own, not of the
// items pushed: the engine is overloaded or shutting down, the store is unavailable. The
// items' claims then give their attempts back.
func abandoned(err error) bool {
	return errors.Is(err, ErrOverloaded) || errors.Is(err, ErrClosed) || errors.Is(err, store.ErrUnavailable) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// release gives back the attempts of claimed items whose delivery was abandoned. It runs
// even when ctx is done (shutting down is one reason to abandon), within a few seconds.
func (ig *ingest) release(ctx context.Context, what string, ids []string, release func(context.Context, []string) error) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := release(ctx, ids); err != nil {
		ig.log.Warn("giving back delivery attempts", "items", what, "n", len(ids), "err", err)
	}
}

// storedKind is how the engine ends stored items of one kind (delayed events, outbox
// entries).
type storedKind struct {
	// name names an item in logs: "delayed event", "outbox entry".
	name string
	// fail marks an item that cannot be delivered, with the reason; it is not retried.
	fail func(ctx context.Context, id, reason string) error
	// release gives back the attempts of claimed items whose delivery was abandoned.
	release func(ctx context.Context, ids []string) error
}

// failExhausted fails the claimed item id (of key) that used up its attempts.
func (ig *ingest) failExhausted(ctx context.Context, k storedKind, id, key string) error {
	ig.log.Warn(k.name+" failed: its delivery never completed", "id", id, "key", key, "attempts", MaxDeliveryAttempts)
	if err := k.fail(ctx, id, exhaustedReason()); err != nil {
		return fmt.Errorf("marking %s %s failed: %w", k.name, id, err)
	}
	return nil
}

// pushClaimed pushes one tenant's claimed items (ids are the items' ids) in one
// transaction. If that fails other than for a reason of the engine's own, each is pushed
// alone, so that one item cannot hold back the others, and an item that cannot be
// delivered — refused as bad input, or its push panicked — is failed with the reason. An
// item whose push fails otherwise keeps its claim and its counted attempt: it is tried
// again when the claim ends, at most MaxDeliveryAttempts times. When the delivery is
// abandoned (see abandoned), the attempts of the items not delivered are given back and
// the error is returned. It returns how many items it delivered.
func (ig *ingest) pushClaimed(ctx context.Context, k storedKind, tenantID string, ins []EventInput) (int, error) {
	ids := make([]string, len(ins))
	for i, in := range ins {
		ids[i] = in.ID
	}
	err := ig.pushStored(ctx, tenantID, ins, true)
	if err == nil {
		return len(ins), nil
	}
	if abandoned(err) {
		ig.release(ctx, k.name, ids, k.release)
		return 0, err
	}
	n := 0
	for i, in := range ins {
		err := ig.pushStored(ctx, tenantID, []EventInput{in}, false)
		var fe *FieldError
		var pe *panicError
		switch {
		case err == nil:
			n++
		case errors.Is(err, store.ErrConflict):
			// Cancelled meanwhile, or delivered by another replica.
		case abandoned(err):
			ig.release(ctx, k.name, ids[i:], k.release)
			return n, err
		case errors.As(err, &fe):
			// The message may quote payload values (a schema's pattern or const): the log
			// gets the field only; the item keeps the whole error.
			ig.log.Warn(k.name+" refused at delivery", "id", in.ID, "key", in.Key, "field", fe.Field)
			if ferr := k.fail(ctx, in.ID, err.Error()); ferr != nil {
				return n, fmt.Errorf("marking %s %s failed: %w", k.name, in.ID, ferr)
			}
		case errors.As(err, &pe):
			ig.log.Error(k.name+" panicked at delivery; it is failed, the engine goes on", "id", in.ID, "key", in.Key,
				"panic", fmt.Sprint(pe.value), "stack", string(pe.stack))
			if ferr := k.fail(ctx, in.ID, "delivery panicked: "+fmt.Sprint(pe.value)); ferr != nil {
				return n, fmt.Errorf("marking %s %s failed: %w", k.name, in.ID, ferr)
			}
		default:
			ig.log.Warn("delivering "+k.name, "id", in.ID, "key", in.Key, "err", err)
		}
	}
	return n, nil
}
