package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/wire"
)

// withSchedule reads a push's deliver_at or delay into ev.DeliverAt. Both set is an error;
// a time in the past, or a delay of zero or less, means now (a normal push). The engine
// refuses a time more than engine.MaxDelay ahead. A delay counts from now, the engine's time.
func withSchedule(ev *engine.EventInput, prefix string, in wire.EventPush, now time.Time) error {
	switch {
	case in.DeliverAt != "" && in.Delay != "":
		return &engine.FieldError{Field: prefix + "delay", Message: "set either deliver_at or delay, not both"}
	case in.DeliverAt != "":
		t, err := time.Parse(time.RFC3339Nano, in.DeliverAt)
		if err != nil {
			return &engine.FieldError{Field: prefix + "deliver_at", Message: "must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z"}
		}
		ev.DeliverAt = t.UTC().Truncate(time.Millisecond)
	case in.Delay != "":
		d, err := time.ParseDuration(in.Delay)
		if err != nil {
			return &engine.FieldError{Field: prefix + "delay", Message: fmt.Sprintf("%q is not a duration like \"90s\" or \"24h\"", in.Delay)}
		}
		if d > engine.MaxDelay {
			return &engine.FieldError{Field: prefix + "delay", Message: fmt.Sprintf("is %s; an event can be delayed by at most %s (365 days)", d, engine.MaxDelay)}
		}
		if d > 0 {
			ev.DeliverAt = now.Add(d).UTC().Truncate(time.Millisecond)
		}
	}
	return nil
}

// toPushReply is the reply to one pushed event: delivered, or delayed (status
// scheduled, with deliver_at, and no runs).
func toPushReply(x engine.PushResult) wire.PushReply {
	out := wire.PushReply{Event: toEvent(x.Event), Runs: x.Runs, Duplicate: x.Duplicate}
	if s := x.Scheduled; s != nil {
		out.Event = toScheduled(*s)
	}
	if out.Runs == nil {
		out.Runs = []wire.RunRef{}
	}
	return out
}

// toScheduled is a delayed event that has not been delivered, as an event.
func toScheduled(s store.ScheduledEvent) wire.Event {
	out := wire.Event{
		ID: s.ID, Key: s.Key, Payload: s.Payload, AdditionalMetadata: s.Metadata, Source: s.Source,
		ParentRunID: s.ParentRunID, ParentStepRunID: s.ParentStepRunID, ParentStep: s.ParentStep, Scope: s.Scope,
		CreatedAt: s.CreatedAt, Triggers: []wire.TriggerDecision{}, Status: s.Status, DeliveryError: s.Error,
	}
	at := s.DeliverAt
	out.DeliverAt = &at
	return out
}

// eventStatuses are the values of the status filter of an event listing.
var eventStatuses = map[string]bool{store.EventDelivered: true, store.ScheduledPending: true, store.ScheduledCancelled: true, store.ScheduledFailed: true}

// listScheduled answers an event listing of delayed events of one status.
func (a *API) listScheduled(w http.ResponseWriter, r *http.Request, p engine.Principal, status string, f store.EventFilter, limit int) error {
	evs, err := a.eng.Store().ScheduledList(r.Context(), store.ScheduledListParams{TenantID: p.TenantID, Status: status, Filter: f})
	if err != nil {
		return err
	}
	writePage(w, evs, limit, func(e store.ScheduledEvent) string { return e.ID }, toScheduled)
	return nil
}

// cancelEvent cancels a delayed event before its delivery: 200 with the event (status
// cancelled); 409 when it was already delivered, cancelled or failed; 404 when unknown.
func (a *API) cancelEvent(w http.ResponseWriter, r *http.Request, p engine.Principal) error {
	s, err := a.eng.CancelScheduled(r.Context(), p.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toScheduled(s))
	return nil
}
