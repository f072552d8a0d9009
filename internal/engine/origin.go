package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/internal/store"
)

// originKind is one way an event comes in.
type originKind int

const (
	// originProducer is an event pushed through the API (the zero Origin).
	originProducer originKind = iota
	// originWebhook is a webhook delivery.
	originWebhook
	// originReplay is a stored event pushed again.
	originReplay
	// originOutbox is an outbox entry relayed.
	originOutbox
	// originScheduled is a delayed event delivered when due.
	originScheduled
	// originRun is an event pushed by a step of a run.
	originRun
)

// Origin is how an event came in: pushed by a producer (the zero Origin), received by a
// webhook, replayed, relayed from the outbox, delivered after a delay, or pushed by a step
// of a run. Push applies it to the event it stores (Origin.apply): the event's source and
// lineage, and what commits with the event (the webhook's delivery record, the deletion of
// the outbox row, the delivered state of the delayed event).
type Origin struct {
	kind originKind
	// webhook, dedupeID and delivery describe a webhook delivery.
	webhook  string
	dedupeID string
	delivery *store.WebhookDelivery
	// replayOf is the id of the replayed event.
	replayOf string
	// outboxID is the id of the relayed outbox entry.
	outboxID string
	// scheduled is the delayed event delivered.
	scheduled *store.ScheduledEvent
	// parentRunID and parentStepRunID name the run and step-run that pushed the event.
	parentRunID, parentStepRunID string
}

// FromWebhook is the origin of an event received by the webhook named name. dedupeID is the
// delivery's deduplication id ("" for none): a second event with the same id from the same
// webhook conflicts (store.ErrConflict) and nothing of it is stored. delivery is the
// delivery record committed with the event (its EventID is filled in; the record itself is
// not changed).
func FromWebhook(name, dedupeID string, delivery *store.WebhookDelivery) Origin {
	return Origin{kind: originWebhook, webhook: name, dedupeID: dedupeID, delivery: delivery}
}

// FromReplay is the origin of an event that replays the stored event eventID: its source is
// "replay" and it records eventID as ReplayOf.
func FromReplay(eventID string) Origin {
	return Origin{kind: originReplay, replayOf: eventID}
}

// FromOutbox is the origin of an event relayed from the outbox entry outboxID: the entry is
// deleted in the transaction that stores the event.
func FromOutbox(outboxID string) Origin {
	return Origin{kind: originOutbox, outboxID: outboxID}
}

// FromRun is the origin of an event pushed by the step-run stepRunID of the run runID: its
// source is "run", and Push checks that the run (and the step-run, when given) exists. With
// both ids empty it is the producer's origin, Origin{}.
func FromRun(runID, stepRunID string) Origin {
	if runID == "" && stepRunID == "" {
		return Origin{}
	}
	return Origin{kind: originRun, parentRunID: runID, parentStepRunID: stepRunID}
}

// fromScheduled is the origin of the delivery of the delayed event s, when due.
func fromScheduled(s *store.ScheduledEvent) Origin {
	return Origin{kind: originScheduled, scheduled: s}
}

// stored reports whether the event was stored before this push (a delayed event delivered,
// an outbox entry relayed): such events are each decided on its own, whatever their
// neighbours in the batch.
func (o Origin) stored() bool {
	return o.kind == originScheduled || o.kind == originOutbox
}

// apply gives item, whose Event is built and has its id, what the origin sets: the event's
// source and lineage, and what commits with the event. For an event pushed by a run it
// looks the parent run up in st, and names field errors prefix+"parent_run_id".
func (o Origin) apply(ctx context.Context, st store.Store, tenantID, prefix string, item *store.IngestItem) error {
	ev := item.Event
	switch o.kind {
	case originProducer:
	case originWebhook:
		ev.Source, ev.Webhook, ev.DedupeID = store.SourceWebhook, o.webhook, o.dedupeID
		if o.delivery != nil {
			d := *o.delivery
			d.EventID = ev.ID
			item.Delivery = &d
		}
	case originReplay:
		ev.Source, ev.ReplayOf = store.SourceReplay, o.replayOf
	case originOutbox:
		item.OutboxID = o.outboxID
	case originScheduled:
		restoreOrigin(ev, o.scheduled)
		item.ScheduledID = o.scheduled.ID
	case originRun:
		if o.parentRunID == "" {
			return fieldErr(prefix+"parent_run_id", "is required with parent_step_run_id")
		}
		step, err := st.RunStepName(ctx, store.RunStepNameParams{TenantID: tenantID, RunID: o.parentRunID, StepRunID: o.parentStepRunID})
		if errors.Is(err, store.ErrNotFound) {
			return fieldErr(prefix+"parent_run_id", "no such run or step-run")
		}
		if err != nil {
			return fmt.Errorf("looking up parent run %s: %w", o.parentRunID, err)
		}
		ev.Source, ev.ParentRunID, ev.ParentStepRunID, ev.ParentStep = store.SourceRun, o.parentRunID, o.parentStepRunID, step
	}
	return nil
}
