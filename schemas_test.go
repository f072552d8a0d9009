package herald_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/testkit"
)

func TestEventSchemas(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client
	wantAPIError := func(err error, status int, code, field string) {
		t.Helper()
		var apiErr *herald.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != status || apiErr.Code != code || apiErr.Field != field {
			t.Fatalf("error = %v, want %d %s field %q", err, status, code, field)
		}
	}

	_, err := c.PutEventSchema(b.ctx, "order:paid", json.RawMessage(`{"type":"object","properties":{"amount":{"type":"nummber"}}}`))
	wantAPIError(err, http.StatusBadRequest, "invalid_argument", "schema")

	schema := json.RawMessage(`{"type":"object","required":["amount"],"properties":{"amount":{"type":"number"}}}`)
	s, err := c.PutEventSchema(b.ctx, "order:paid", schema)
	if err != nil || s.Key != "order:paid" || string(s.Schema) != string(schema) || s.CreatedAt.IsZero() {
		t.Fatalf("PutEventSchema = %+v, %v", s, err)
	}
	if _, err := c.PutEventSchema(b.ctx, "a/b", json.RawMessage(`{}`)); err != nil {
		t.Fatalf("PutEventSchema of a key with a slash: %v", err)
	}
	if g, err := c.GetEventSchema(b.ctx, "a/b"); err != nil || g.Key != "a/b" {
		t.Fatalf("GetEventSchema(a/b) = %+v, %v", g, err)
	}
	list, err := c.ListEventSchemas(b.ctx)
	if err != nil || len(list) != 2 || list[0].Key != "a/b" || list[1].Key != "order:paid" {
		t.Fatalf("ListEventSchemas = %+v, %v", list, err)
	}

	_, err = c.Push(b.ctx, herald.Event{Key: "order:paid", Payload: map[string]any{"amount": "12"}})
	wantAPIError(err, http.StatusUnprocessableEntity, "schema_violation", "payload/amount")
	_, err = c.BulkPush(b.ctx, []herald.Event{
		{Key: "order:paid", Payload: map[string]any{"amount": 1}},
		{Key: "order:paid", Payload: map[string]any{}},
	})
	wantAPIError(err, http.StatusUnprocessableEntity, "schema_violation", "events[1].payload/amount")
	if _, err := c.Push(b.ctx, herald.Event{Key: "order:paid", Payload: map[string]any{"amount": 12}}); err != nil {
		t.Fatalf("conforming push: %v", err)
	}

	if err := c.DeleteEventSchema(b.ctx, "order:paid"); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetEventSchema(b.ctx, "order:paid")
	wantAPIError(err, http.StatusNotFound, "not_found", "")
	if _, err := c.Push(b.ctx, herald.Event{Key: "order:paid", Payload: map[string]any{"amount": "12"}}); err != nil {
		t.Fatalf("push after the schema was deleted: %v", err)
	}
}

func TestWorkerRegistersEventSchemas(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := herald.NewWorker(b.client, herald.WorkerConfig{Name: "schemas"})
	if err := w.RegisterEventSchema("user:created", json.RawMessage(`[1]`)); err == nil {
		t.Fatal("RegisterEventSchema accepted a schema that is not an object")
	}
	schema := json.RawMessage(`{"type":"object","required":["user_id"]}`)
	if err := w.RegisterEventSchema("user:created", schema); err != nil {
		t.Fatal(err)
	}
	if err := w.RegisterEventSchema("user:created", schema); err == nil {
		t.Fatal("RegisterEventSchema accepted a key twice")
	}
	if err := w.Register(herald.Workflow{Name: "greet", Triggers: []string{"user:created"},
		Steps: []herald.Step{{Name: "hello", Run: func(context.Context, *herald.StepContext) (any, error) { return nil, nil }}}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Worker.Run: %v", err)
		}
	})
	// Run stores the schema before the workflows: once greet exists, so does the schema.
	testkit.Eventually(t, "the worker to store greet", func() bool {
		_, err := b.client.GetWorkflow(b.ctx, "greet")
		return err == nil
	})
	s, err := b.client.GetEventSchema(b.ctx, "user:created")
	if err != nil || string(s.Schema) != string(schema) {
		t.Fatalf("schema stored by the worker = %+v, %v", s, err)
	}
	if _, err := b.client.Push(b.ctx, herald.Event{Key: "user:created"}); err == nil {
		t.Fatal("a push without user_id was accepted")
	}
	if err := w.RegisterEventSchema("user:deleted", schema); err == nil {
		t.Fatal("RegisterEventSchema after Run was accepted")
	}
}
