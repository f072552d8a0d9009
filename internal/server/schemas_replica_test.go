package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testkit"
)

// TestReplicasEnforceSchemaChangesWithinASecond: a payload schema registered through one
// replica is enforced by the others within a second, and its deletion too. The replicas
// sweep once a minute: only the NOTIFY sent with the schema change refreshes their schema
// caches in time.
func TestReplicasEnforceSchemaChangesWithinASecond(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	o := testenv.Options{DatabaseURL: db, SweepInterval: time.Minute}
	_, cls := cluster(t, o, 3, oneStep("bill", "order:paid"))
	ca, cb, cc := cls[0], cls[1], cls[2]
	bad := herald.Event{Key: "order:paid", Payload: map[string]any{"amount": "twelve"}}
	for name, cl := range map[string]*herald.Client{"A": ca, "B": cb, "C": cc} {
		if _, err := cl.Push(ctx, bad); err != nil {
			t.Fatalf("replica %s before the schema: %v", name, err)
		}
	}

	// refused pushes bad through cl until it is refused (want true) or accepted (false),
	// for at most a second after since.
	refused := func(replica string, cl *herald.Client, since time.Time, want bool) {
		t.Helper()
		pushes := 0
		testkit.EventuallyWithin(t, time.Until(since.Add(time.Second)), fmt.Sprintf("replica %s: refused=%v, a second after the change", replica, want), func() bool {
			pushes++
			_, err := cl.Push(ctx, bad)
			var apiErr *herald.APIError
			isViolation := errors.As(err, &apiErr) && apiErr.StatusCode == 422 && apiErr.Code == "schema_violation" && apiErr.Field == "payload/amount"
			if err != nil && !isViolation {
				t.Fatalf("replica %s: %v", replica, err)
			}
			return isViolation == want
		})
		t.Logf("replica %s: refused=%v after %s (%d pushes)", replica, want, time.Since(since).Round(time.Microsecond), pushes)
	}

	schema := json.RawMessage(`{"type":"object","required":["amount"],"properties":{"amount":{"type":"number"}}}`)
	if _, err := cb.PutEventSchema(ctx, "order:paid", schema); err != nil {
		t.Fatal(err)
	}
	put := time.Now()
	// The replica that saved it enforces it at once.
	if _, err := cb.Push(ctx, bad); err == nil {
		t.Fatal("replica B accepted a violating push right after saving the schema")
	}
	refused("A", ca, put, true)
	refused("C", cc, put, true)

	if err := cc.DeleteEventSchema(ctx, "order:paid"); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	refused("A", ca, deleted, false)
	refused("B", cb, deleted, false)
}
