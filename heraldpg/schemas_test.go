package heraldpg_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/heraldpg"
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		var reason *string
		if err := b.pool.QueryRow(ctx, `SELECT error FROM herald_outbox WHERE id = $1`, id).Scan(&reason); err != nil {
			t.Fatal(err)
		}
		if reason != nil {
			if !strings.Contains(*reason, "payload/order_id") {
				t.Fatalf("reason %q", *reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the violating entry was never refused")
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	if _, err := b.c.GetEvent(ctx, id); err == nil {
		t.Fatal("the violating entry became an event")
	}
	b.waitEvent(t, b.placeOrder(t, "o-after", true))
}
