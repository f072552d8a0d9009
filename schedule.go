package herald

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/heraldhq/herald/internal/wire"
)

// Statuses of an event (EventInfo.Status). An event pushed without a delay is delivered
// at once; a delayed one is scheduled until it is due, then delivered — unless it was
// cancelled first, or refused when due (failed).
const (
	// EventDelivered is an event in the event log: its workflows were triggered.
	EventDelivered = "delivered"
	// EventScheduled is a delayed event waiting until EventInfo.DeliverAt.
	EventScheduled = "scheduled"
	// EventCancelled is a delayed event cancelled before its delivery.
	EventCancelled = "cancelled"
	// EventFailed is a delayed event refused when due (EventInfo.DeliveryError says why).
	EventFailed = "failed"
)

// PushAt stores ev now and delivers it at t: it triggers the workflows active then. The
// result's Event has Status "scheduled" and DeliverAt; its Runs are empty. A t in the
// past delivers at once.
func (c *Client) PushAt(ctx context.Context, ev Event, t time.Time) (*PushResult, error) {
	ev.DeliverAt, ev.Delay = t, 0
	return c.Push(ctx, ev)
}

// PushAfter stores ev now and delivers it d later (by the engine's clock), like PushAt.
func (c *Client) PushAfter(ctx context.Context, ev Event, d time.Duration) (*PushResult, error) {
	ev.DeliverAt, ev.Delay = time.Time{}, d
	return c.Push(ctx, ev)
}

// CancelEvent cancels a delayed event before its delivery and returns it (Status
// "cancelled"). It fails with a 409 APIError when the event was already delivered,
// cancelled or failed, and a 404 one when there is no such event.
func (c *Client) CancelEvent(ctx context.Context, id string) (*EventInfo, error) {
	var reply wire.Event
	if err := c.call(ctx, http.MethodPost, "/events/"+pathEscape(id)+"/cancel", nil, struct{}{}, &reply, 0); err != nil {
		return nil, fmt.Errorf("herald: cancelling event %s: %w", id, err)
	}
	ev, err := fromEvent(reply)
	if err != nil {
		return nil, fmt.Errorf("herald: cancelling event %s: %w", id, err)
	}
	return &ev, nil
}

// search adds the event search filters to a listing's query.
func (p ListEventsParams) search(q url.Values) {
	if p.KeyPrefix != "" {
		q.Set("key_prefix", p.KeyPrefix)
	}
	if p.Status != "" {
		q.Set("status", p.Status)
	}
	if p.Workflow != "" {
		q.Set("workflow", p.Workflow)
	}
	setSearch(q, p.Metadata, p.Since, p.Until)
}

// setSearch adds metadata[NAME]=VALUE filters and a creation time range to a query.
func setSearch(q url.Values, metadata map[string]string, since, until time.Time) {
	names := make([]string, 0, len(metadata))
	for k := range metadata {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		q.Set("metadata["+k+"]", metadata[k])
	}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	if !until.IsZero() {
		q.Set("until", until.UTC().Format(time.RFC3339Nano))
	}
}
