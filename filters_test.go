package herald_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
)

// TestConditionalTriggersAndFilters drives trigger expressions, runtime filters and event
// scopes through the SDK: definitions round-trip, a bad expression comes back as an
// *APIError naming the field, scoped pushes trigger through filters with the filter's
// payload in the run's input, and DryRun and the stored event tell why not.
func TestConditionalTriggersAndFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, ctx := b.client, b.ctx

	def := herald.WorkflowDefinition{
		Name:                "bill",
		Triggers:            []string{"invoice:created"},
		ConditionalTriggers: []herald.Trigger{{Key: "invoice:*", Expression: "input.total > 100"}},
		Steps:               []herald.StepDefinition{{Name: "charge"}},
	}
	info, _, err := c.PutWorkflow(ctx, def)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(info.Triggers, def.Triggers) || !reflect.DeepEqual(info.ConditionalTriggers, def.ConditionalTriggers) {
		t.Fatalf("workflow read back with triggers %v %v", info.Triggers, info.ConditionalTriggers)
	}
	if _, created, err := c.PutWorkflow(ctx, def); err != nil || created {
		t.Fatalf("same definition again: created %v, %v", created, err)
	}

	bad := def
	bad.ConditionalTriggers = []herald.Trigger{{Key: "invoice:*", Expression: "input.total >"}}
	_, _, err = c.PutWorkflow(ctx, bad)
	var apiErr *herald.APIError
	if !errors.As(err, &apiErr) || apiErr.Field != "triggers[1].expression" {
		t.Fatalf("bad expression: %v, want an APIError on triggers[1].expression", err)
	}

	// A worker's Workflow carries conditional triggers into its definition.
	wf := herald.Workflow{Name: "w", ConditionalTriggers: []herald.Trigger{{Key: "k", Expression: "true"}}}
	if got := wf.Definition().ConditionalTriggers; !reflect.DeepEqual(got, wf.ConditionalTriggers) {
		t.Fatalf("Definition().ConditionalTriggers = %v", got)
	}

	res, err := c.Push(ctx, herald.Event{Key: "invoice:paid", Payload: map[string]any{"total": 50}})
	if err != nil || len(res.Runs) != 0 || len(res.Event.Triggers) != 1 || res.Event.Triggers[0].Skipped != "expression_false" {
		t.Fatalf("total 50: %v %+v", err, res)
	}

	f, err := c.CreateFilter(ctx, "bill", herald.FilterSpec{Scope: "acme", Payload: map[string]any{"plan": "pro"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.Scope != "acme" || f.Workflow != "bill" || !strings.Contains(string(f.Payload), `"plan":"pro"`) {
		t.Fatalf("created filter %+v", f)
	}
	if _, err := c.CreateFilter(ctx, "bill", herald.FilterSpec{Scope: "acme", Expression: "1"}); !errors.As(err, &apiErr) || apiErr.Field != "expression" {
		t.Fatalf("filter with a non-bool expression: %v", err)
	}
	page, err := c.ListFilters(ctx, "bill", herald.ListFiltersParams{Scope: "acme"})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != f.ID {
		t.Fatalf("ListFilters: %v %+v", err, page)
	}
	if got, err := c.GetFilter(ctx, "bill", f.ID); err != nil || got.ID != f.ID {
		t.Fatalf("GetFilter: %v %+v", err, got)
	}

	res, err = c.Push(ctx, herald.Event{Key: "invoice:created", Scope: "acme", Payload: map[string]any{"total": 1}})
	if err != nil || len(res.Runs) != 1 || res.Event.Triggers[0].FilterID != f.ID || res.Event.Scope != "acme" {
		t.Fatalf("scoped push: %v %+v", err, res)
	}
	run, err := c.GetRun(ctx, res.Runs[0].RunID)
	if err != nil {
		t.Fatal(err)
	}
	var input map[string]any
	if err := json.Unmarshal(run.Input, &input); err != nil || input["plan"] != "pro" || input["total"] != float64(1) {
		t.Fatalf("run input %s, want the payload with the filter's plan", run.Input)
	}

	x, err := c.DryRun(ctx, herald.Event{Key: "invoice:created", Payload: map[string]any{"total": 1}})
	if err != nil || len(x.Workflows) != 1 || x.Workflows[0].Reason != "scope_mismatch" {
		t.Fatalf("DryRun without scope: %v %+v", err, x)
	}
	x, err = c.DryRun(ctx, herald.Event{Key: "invoice:paid", Scope: "acme", Payload: map[string]any{}})
	if err != nil || len(x.Workflows) != 1 || x.Workflows[0].Reason != "expression_error" || !strings.Contains(x.Workflows[0].Message, "total") {
		t.Fatalf("DryRun with a failing expression: %v %+v", err, x)
	}
	ev, err := c.GetEvent(ctx, res.Event.ID)
	if err != nil || len(ev.Triggers) != 1 || ev.Triggers[0].FilterID != f.ID {
		t.Fatalf("GetEvent: %v %+v", err, ev)
	}

	if err := c.DeleteFilter(ctx, "bill", f.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetFilter(ctx, "bill", f.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Fatalf("GetFilter after delete: %v", err)
	}
}
