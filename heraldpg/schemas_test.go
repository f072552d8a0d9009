package heraldpg_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/heraldpg"
	"github.com/heraldhq/herald/internal/testkit"
)

// TestSchemaViolationsAreRefusedNotLost: an outbox entry whose payload does not conform to
// the schema of its key is not relayed; it stays with the violation as its error, and the
// entries after it are relayed.
func TestSchemaViolationsAreRefusedNotLost(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	schema := json.RawMessage(`{"type":"object","required":["order_id"],"properties":{"order_id":{"type":"string"}}}`)
	if _, err := b.c.PutEventSchema(ctx, "order:placed", schema); err != nil {
		t.Fatal(err)
	}
	id, err := heraldpg.Push(ctx, b.pool, "default", herald.Event{Key: "order:placed", Payload: map[string]any{"order_id": 42}})
	if err != nil {
		t.Fatal(err)
	}
	b.waitRefused(t, id, "payload/order_id")
	if _, err := b.c.GetEvent(ctx, id); err == nil {
		t.Fatal("the violating entry became an event")
	}
	testkit.WaitEvent(t, b.c, b.placeOrder(t, "o-after", true))
}
