package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
)

// TestPayloadCheckStopsWithTheRequest: checking a payload against its schema stops when
// the request is cancelled — the validator kept running after the client had gone. The
// payload (16 levels of the recursive anyOf, within the validation bound, and
// invalid) is not checked, nor stored: the push answers the cancellation.
func TestPayloadCheckStopsWithTheRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	eng, tenant := startEngine(t, openStore(t), engine.Config{})
	schema := json.RawMessage(`{"$defs":{"n":{"anyOf":[` +
		`{"type":"object","properties":{"a":{"$ref":"#/$defs/n"}},"required":["zz"]},` +
		`{"type":"object","properties":{"a":{"$ref":"#/$defs/n"}},"required":["yy"]}]}},"$ref":"#/$defs/n"}`)
	if _, _, err := eng.PutEventSchema(ctx, tenant, "tree:grown", schema); err != nil {
		t.Fatal(err)
	}
	payload := json.RawMessage(strings.Repeat(`{"a":`, 14) + `{}` + strings.Repeat(`}`, 14))
	ev := engine.EventInput{Key: "tree:grown", Payload: payload}
	_, err := eng.Push(ctx, tenant, []engine.EventInput{ev}, false)
	var se *engine.SchemaError
	if !errors.As(err, &se) {
		t.Fatalf("push: %v, want a schema violation", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := eng.Push(cancelled, tenant, []engine.EventInput{ev}, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("push with a cancelled request: %v, want context.Canceled", err)
	}
	if evs, err := eng.Store().EventList(ctx, tenant, store.EventFilter{Limit: 10}); err != nil || len(evs) != 0 {
		t.Fatalf("events stored: %d, %v", len(evs), err)
	}
}
