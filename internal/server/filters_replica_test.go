package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testkit"
)

// TestReplicasSeeFilterChangesWithinASecond: a filter created through one replica gates
// the workflow on the other within a second, and deleting it there is seen back on the
// first. The replicas sweep once a minute: only the herald_workflows NOTIFY (filters bump
// the same change mark as workflows) refreshes their trigger indexes in time.
func TestReplicasSeeFilterChangesWithinASecond(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	o := testenv.Options{DatabaseURL: db, SweepInterval: time.Minute}
	_, cls := cluster(t, o, 2, oneStep("bill", "invoice:paid"))
	ca, cb := cls[0], cls[1]

	// seen pushes an acme event through cl until ok accepts the decision, for at most a
	// second after since.
	seen := func(replica string, cl *herald.Client, since time.Time, what string, ok func(herald.TriggerDecision) bool) {
		t.Helper()
		testkit.PollWithin(t, time.Until(since.Add(time.Second)), fmt.Sprintf("replica %s: %s, a second after the change", replica, what), func() ([]herald.TriggerDecision, bool) {
			res, err := cl.Push(ctx, herald.Event{Key: "invoice:paid", Scope: "acme"})
			if err != nil {
				t.Fatal(err)
			}
			return res.Event.Triggers, len(res.Event.Triggers) == 1 && ok(res.Event.Triggers[0])
		})
		t.Logf("replica %s: %s after %s", replica, what, time.Since(since).Round(time.Microsecond))
	}
	runs := func(d herald.TriggerDecision) bool { return d.RunID != "" && d.FilterID == "" }
	seen("B", cb, time.Now(), "triggers without filters", runs)

	f, err := ca.CreateFilter(ctx, "bill", herald.FilterSpec{Scope: "globex"})
	if err != nil {
		t.Fatal(err)
	}
	seen("B", cb, time.Now(), "skips acme (filter for globex created via A)", func(d herald.TriggerDecision) bool {
		return d.Skipped == "scope_mismatch"
	})
	if err := cb.DeleteFilter(ctx, "bill", f.ID); err != nil {
		t.Fatal(err)
	}
	seen("A", ca, time.Now(), "triggers again (filter deleted via B)", runs)
}
