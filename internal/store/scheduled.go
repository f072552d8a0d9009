package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// ScheduleStore keeps delayed events until they are due.
//
// A delayed push is stored by EventInsert (an IngestItem with DeliverAt set): its event goes
// into the scheduled events, not the event log, and its idempotency key is claimed at
// once. When it is due, the engine claims it (ScheduledClaim) and ingests it as a normal
// event with the same id and IngestItem.ScheduledID set: that transaction deletes the
// scheduled row, so a scheduled event is delivered once, whichever replica delivers it.
type ScheduleStore interface {
	// ScheduledClaim returns up to p.Limit scheduled events, of every tenant, due at p.Now
	// (DeliverAt ≤ p.Now) and not claimed by someone else, earliest first: those never
	// claimed, or with p.Retried those claimed before. It marks them claimed until
	// p.Until (other callers skip them meanwhile) and counts an attempt on each
	// (Attempts, as returned, includes this claim), in the same statement. A claim is
	// only a hint that avoids duplicate work; delivery itself is made exactly once by
	// EventInsert.
	ScheduledClaim(ctx context.Context, p DeliveryClaim) ([]ScheduledEvent, error)
	// ScheduledRelease gives back the attempt of claimed events whose delivery the caller
	// abandoned for a reason of its own (overloaded, shutting down, the store
	// unavailable): their Attempts goes down by one. Their claims stay.
	ScheduledRelease(ctx context.Context, ids []string) error
	// ScheduledNext returns the earliest DeliverAt after after of a scheduled event of
	// any tenant; ok is false when there is none.
	ScheduledNext(ctx context.Context, after time.Time) (at time.Time, ok bool, err error)
	// ScheduledGet returns a tenant's scheduled, cancelled or failed delayed event.
	// A delivered one is an event (EventGet); here it is ErrNotFound.
	ScheduledGet(ctx context.Context, tenantID, id string) (ScheduledEvent, error)
	// ScheduledGetIdempotent returns the delayed event (not yet delivered) holding the
	// tenant's idempotency key, if the key has not expired at time p.At; ErrNotFound
	// otherwise.
	ScheduledGetIdempotent(ctx context.Context, p IdempotencyParams) (ScheduledEvent, error)
	// ScheduledList lists a tenant's delayed events of one status (ScheduledPending,
	// ScheduledCancelled or ScheduledFailed) newest first (by id). p.Filter's Key,
	// KeyPrefix, Metadata, Since and Until (creation time: when it was pushed), Before
	// and Limit apply as in EventList; its Workflow and After must be empty.
	ScheduledList(ctx context.Context, p ScheduledListParams) ([]ScheduledEvent, error)
	// ScheduledCancel cancels a scheduled event before its delivery and returns it.
	// ErrConflict when it was already cancelled, failed or delivered; ErrNotFound when
	// the tenant has no event of that id.
	ScheduledCancel(ctx context.Context, p ScheduledCancelParams) (ScheduledEvent, error)
	// ScheduledFail marks a scheduled event that cannot be delivered (its event was
	// refused, its delivery panicked, or it was claimed too often without being
	// delivered) failed, with the reason; it is not retried.
	ScheduledFail(ctx context.Context, p ScheduledFailParams) error
	// ScheduledPrune deletes up to limit cancelled or failed delayed events that ended,
	// and were due, before before, and returns how many it deleted. (Their idempotency
	// keys live until the window after the due time; with a window no longer than the
	// retention, a live key always finds its event.)
	ScheduledPrune(ctx context.Context, before time.Time, limit int) (int, error)
}

// ScheduledListParams are the arguments of ScheduledList.
type ScheduledListParams struct {
	TenantID string
	// Status is ScheduledPending, ScheduledCancelled or ScheduledFailed.
	Status string
	// Filter selects and pages the delayed events (see ScheduledList for what applies).
	Filter EventFilter
}

// ScheduledCancelParams are the arguments of ScheduledCancel.
type ScheduledCancelParams struct {
	TenantID string
	// ID is the delayed event's id.
	ID string
	// At is when it is cancelled (its EndedAt).
	At time.Time
}

// ScheduledFailParams are the arguments of ScheduledFail.
type ScheduledFailParams struct {
	// ID is the delayed event's id, of any tenant.
	ID string
	// Reason says why it cannot be delivered (its Error).
	Reason string
	// At is when it failed (its EndedAt).
	At time.Time
}

// Statuses of a delayed event. A delivered one leaves the scheduled events and is an
// ordinary event (EventDelivered).
const (
	// ScheduledPending waits for its DeliverAt.
	ScheduledPending = "scheduled"
	// ScheduledCancelled was cancelled before its delivery.
	ScheduledCancelled = "cancelled"
	// ScheduledFailed was due but could not be delivered (see ScheduledEvent.Error).
	ScheduledFailed = "failed"
	// EventDelivered is the status of every event in the event log.
	EventDelivered = "delivered"
)

// ScheduledEvent is a delayed event that has not been delivered.
type ScheduledEvent struct {
	// ID becomes the event's id at delivery.
	ID       string
	TenantID string
	Key      string
	Payload  json.RawMessage
	Metadata json.RawMessage
	// Source, ParentRunID, ParentStepRunID and ParentStep are the event's origin as
	// pushed (api, or run with its lineage).
	Source          string
	ParentRunID     string
	ParentStepRunID string
	ParentStep      string
	Scope           string
	// IdempotencyKey is the key claimed at schedule time, or "".
	IdempotencyKey string
	// DeliverAt is when the event is due.
	DeliverAt time.Time
	// CreatedAt is when it was pushed.
	CreatedAt time.Time
	// Status is ScheduledPending, ScheduledCancelled or ScheduledFailed.
	Status string
	// Error says why delivery failed (ScheduledFailed).
	Error string
	// EndedAt is when it was cancelled or failed.
	EndedAt *time.Time
	// Attempts is how many times it was claimed for delivery (ScheduledClaim) without
	// being delivered, less the claims given back (ScheduledRelease).
	Attempts int
}

// DeliveryClaim selects the stored items that a claim takes for delivery: delayed events
// (ScheduleStore.ScheduledClaim) or outbox entries (Outbox.OutboxClaim). A claim counts an
// attempt on each item it takes, in the statement that takes it. A delivered item leaves
// its table, so an item claimed again is one whose delivery did not complete: the engine
// takes such items one at a time (Retried) and gives up on one after a few attempts,
// which ends the loop of an item whose delivery ends the process.
type DeliveryClaim struct {
	// Now is the time of the claim: items due by Now whose claim (if any) ended by Now
	// are taken.
	Now time.Time
	// Until is when this claim ends.
	Until time.Time
	// Limit caps how many items are taken.
	Limit int
	// Retried takes only items claimed before (Attempts > 0); otherwise only items never
	// claimed.
	Retried bool
}

// AttemptsCond is the SQL condition (the same in both dialects) selecting, by their
// attempts column, the items the claim takes: those claimed before (Retried) or those
// never claimed.
func (c DeliveryClaim) AttemptsCond() string {
	if c.Retried {
		return "attempts > 0"
	}
	return "attempts = 0"
}

// SortScheduled puts delayed events in the order ScheduledClaim returns them: earliest
// DeliverAt first, then by id.
func SortScheduled(es []ScheduledEvent) {
	sort.Slice(es, func(i, j int) bool {
		if !es[i].DeliverAt.Equal(es[j].DeliverAt) {
			return es[i].DeliverAt.Before(es[j].DeliverAt)
		}
		return es[i].ID < es[j].ID
	})
}

// ScheduledCancelConflict is ScheduledCancel's refusal of delayed event id, which ended
// with status (cancelled or failed).
func ScheduledCancelConflict(id, status string) error {
	return fmt.Errorf("event %s is already %s: %w", id, status, ErrConflict)
}

// ScheduledDelivered is ScheduledCancel's refusal of delayed event id, which was
// delivered (it is an event now).
func ScheduledDelivered(id string) error {
	return fmt.Errorf("event %s is already delivered: %w", id, ErrConflict)
}
