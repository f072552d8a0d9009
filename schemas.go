package herald

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/heraldhq/herald/internal/wire"
)

// EventSchema is the JSON Schema registered for an event key of the caller's tenant:
// every push (and webhook delivery) of that key must carry a payload that conforms to
// it, or it is refused with a 422 APIError whose Code is "schema_violation" and whose
// Field names the failing value by JSON pointer ("payload/amount").
type EventSchema = wire.EventSchema

// schemaPath is the API path of a key's schema; keys may contain "/".
func schemaPath(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = pathEscape(s)
	}
	return "/event-schemas/" + strings.Join(segs, "/")
}

// PutEventSchema registers schema (a JSON Schema object) for an exact event key,
// replacing the current one. The engine compiles it first: an invalid schema fails with
// a 400 APIError whose Field is "schema" and whose Message is the compiler's. From the
// moment it returns, pushes of the key through any replica are checked (other replicas
// within a second on PostgreSQL).
func (c *Client) PutEventSchema(ctx context.Context, key string, schema json.RawMessage) (*EventSchema, error) {
	var reply wire.EventSchema
	if err := c.call(ctx, http.MethodPut, schemaPath(key), nil, wire.EventSchemaPut{Schema: schema}, &reply, 0); err != nil {
		return nil, fmt.Errorf("herald: putting the schema of %q: %w", key, err)
	}
	return &reply, nil
}

// GetEventSchema returns the schema registered for a key; a 404 APIError if none.
func (c *Client) GetEventSchema(ctx context.Context, key string) (*EventSchema, error) {
	var reply wire.EventSchema
	if err := c.call(ctx, http.MethodGet, schemaPath(key), nil, nil, &reply, 0); err != nil {
		return nil, fmt.Errorf("herald: getting the schema of %q: %w", key, err)
	}
	return &reply, nil
}

// ListEventSchemas lists the tenant's schemas by key.
func (c *Client) ListEventSchemas(ctx context.Context) ([]EventSchema, error) {
	var res wire.List[wire.EventSchema]
	if err := c.call(ctx, http.MethodGet, "/event-schemas", nil, nil, &res, 0); err != nil {
		return nil, fmt.Errorf("herald: listing event schemas: %w", err)
	}
	return res.Items, nil
}

// DeleteEventSchema removes the schema of a key: its payloads are no longer checked.
func (c *Client) DeleteEventSchema(ctx context.Context, key string) error {
	if err := c.call(ctx, http.MethodDelete, schemaPath(key), nil, nil, nil, 0); err != nil {
		return fmt.Errorf("herald: deleting the schema of %q: %w", key, err)
	}
	return nil
}

// RegisterEventSchema declares the JSON Schema of an event key that the worker's
// workflows consume. Run stores it (PutEventSchema) before the workflows, so events that
// would reach the steps with a malformed payload are refused at the producer instead. A
// key declared twice is an error; schema must be a JSON object. It must be called before
// Run.
func (w *Worker) RegisterEventSchema(key string, schema json.RawMessage) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return errors.New("herald: RegisterEventSchema called after Run")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(schema, &obj); err != nil || obj == nil {
		return fmt.Errorf("herald: the schema of %q must be a JSON object", key)
	}
	for _, s := range w.schemas {
		if s.Key == key {
			return fmt.Errorf("herald: the schema of %q is registered twice", key)
		}
	}
	w.schemas = append(w.schemas, EventSchema{Key: key, Schema: append(json.RawMessage(nil), schema...)})
	return nil
}

// putEventSchemas stores the declared schemas (Worker.Run).
func (w *Worker) putEventSchemas(ctx context.Context, schemas []EventSchema) error {
	for _, s := range schemas {
		if _, err := w.client.PutEventSchema(ctx, s.Key, s.Schema); err != nil {
			return fmt.Errorf("herald: worker: %w", err)
		}
		w.logger.Info("herald: event schema stored", "key", s.Key)
	}
	return nil
}
