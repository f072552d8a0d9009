package herald_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/testkit"
)

// TestDelayedPush: PushAfter and PushAt schedule events (also in bulk), CancelEvent
// cancels one, ListEvents finds them by status and metadata, and a due event is
// delivered with its run.
func TestDelayedPush(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client
	if _, _, err := c.PutWorkflow(b.ctx, herald.WorkflowDefinition{Name: "remind", Triggers: []string{"reminder:due"},
		Steps: []herald.StepDefinition{{Name: "send"}}}); err != nil {
		t.Fatal(err)
	}
	soon, err := c.PushAfter(b.ctx, herald.Event{Key: "reminder:due", AdditionalMetadata: map[string]any{"user": "u1"}}, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if soon.Event.Status != herald.EventScheduled || soon.Event.DeliverAt == nil || len(soon.Runs) != 0 {
		t.Fatalf("PushAfter = %+v", soon)
	}
	later, err := c.PushAt(b.ctx, herald.Event{Key: "reminder:due"}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	bulk, err := c.BulkPush(b.ctx, []herald.Event{{Key: "reminder:due", Delay: time.Hour}, {Key: "reminder:due"}})
	if err != nil {
		t.Fatal(err)
	}
	if bulk[0].Event.Status != herald.EventScheduled || bulk[1].Event.Status != herald.EventDelivered || len(bulk[1].Runs) != 1 {
		t.Fatalf("BulkPush = %+v", bulk)
	}

	cancelled, err := c.CancelEvent(b.ctx, later.Event.ID)
	if err != nil || cancelled.Status != herald.EventCancelled {
		t.Fatalf("CancelEvent = %+v, %v", cancelled, err)
	}
	_, err = c.CancelEvent(b.ctx, later.Event.ID)
	var apiErr *herald.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict {
		t.Fatalf("second CancelEvent: %v, want a 409 APIError", err)
	}

	if ev := testkit.WaitEvent(t, c, soon.Event.ID); ev.Status != herald.EventDelivered || len(ev.Runs) != 1 {
		t.Fatalf("the delayed event is %s with %d runs, want delivered with 1", ev.Status, len(ev.Runs))
	}
	page, err := c.ListEvents(b.ctx, herald.ListEventsParams{Metadata: map[string]string{"user": "u1"}, Workflow: "remind"})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != soon.Event.ID {
		t.Fatalf("ListEvents by metadata and workflow = %+v, %v", page, err)
	}
	runs, err := c.ListRuns(b.ctx, herald.ListRunsParams{Metadata: map[string]string{"user": "u1"}, Since: time.Now().Add(-time.Minute)})
	if err != nil || len(runs.Items) != 1 || runs.Items[0].EventID != soon.Event.ID {
		t.Fatalf("ListRuns by metadata = %+v, %v", runs, err)
	}
	for status, want := range map[string]int{herald.EventScheduled: 1, herald.EventCancelled: 1, herald.EventDelivered: 2} {
		page, err := c.ListEvents(b.ctx, herald.ListEventsParams{Status: status})
		if err != nil || len(page.Items) != want {
			t.Errorf("ListEvents(status %s) = %d events, %v; want %d", status, len(page.Items), err, want)
		}
	}
}
