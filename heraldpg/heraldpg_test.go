package heraldpg_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/heraldpg"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testkit"
)

type bundle struct {
	c    *herald.Client
	pool *pgxpool.Pool
}

func setup(t *testing.T) *bundle {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	env := testenv.StartWith(t, testenv.Options{DatabaseURL: url})
	c, err := herald.NewClient(herald.ClientConfig{URL: env.URL, Token: env.Token})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY, total INT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	def := herald.WorkflowDefinition{Name: "fulfil", Triggers: []string{"order:placed"}, Steps: []herald.StepDefinition{{Name: "ship"}}}
	if _, _, err := c.PutWorkflow(ctx, def); err != nil {
		t.Fatal(err)
	}
	return &bundle{c: c, pool: pool}
}

// placeOrder writes an order and its event in one transaction, committing or not.
func (b *bundle) placeOrder(t *testing.T, id string, commit bool) string {
	t.Helper()
	ctx := context.Background()
	var eventID string
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO orders (id, total) VALUES ($1, 42)`, id); err != nil {
			return err
		}
		var err error
		eventID, err = heraldpg.Push(ctx, tx, "default", herald.Event{Key: "order:placed", Payload: map[string]any{"order_id": id},
			AdditionalMetadata: map[string]any{"source": "checkout"}})
		if err != nil {
			return err
		}
		if !commit {
			return errRollback
		}
		return nil
	})
	if err != nil && err != errRollback {
		t.Fatal(err)
	}
	return eventID
}

type rollback struct{}

func (rollback) Error() string { return "rollback" }

var errRollback error = rollback{}

// waitRefused waits until the relay refused outbox entry id, and checks that the reason
// it kept contains want.
func (b *bundle) waitRefused(t *testing.T, id, want string) {
	t.Helper()
	reason := testkit.Poll(t, "entry "+id+" to be refused", func() (string, bool) {
		var reason *string
		if err := b.pool.QueryRow(context.Background(), `SELECT error FROM herald_outbox WHERE id = $1`, id).Scan(&reason); err != nil {
			t.Fatal(err)
		}
		if reason == nil {
			return "", false
		}
		return *reason, true
	})
	if !strings.Contains(reason, want) {
		t.Fatalf("entry %s refused for %q, want a reason naming %q", id, reason, want)
	}
}

func TestEventExistsIfAndOnlyIfTheTransactionCommits(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	rolledBack := b.placeOrder(t, "o-1", false)
	committed := b.placeOrder(t, "o-2", true)

	ev := testkit.WaitEvent(t, b.c, committed)
	if ev.Key != "order:placed" || !strings.Contains(string(ev.Payload), "o-2") || ev.AdditionalMetadata["source"] != "checkout" {
		t.Fatalf("event = %+v", ev)
	}
	if len(ev.Runs) != 1 || ev.Runs[0].Workflow != "fulfil" {
		t.Fatalf("the committed event did not trigger its workflow: %+v", ev.Runs)
	}
	// The committed event was relayed; the rolled-back one, written before it, never will be.
	if _, err := b.c.GetEvent(ctx, rolledBack); err == nil {
		t.Fatal("an event from a rolled-back transaction exists")
	}
	var orders, outbox int
	if err := b.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM herald_outbox)`).Scan(&orders, &outbox); err != nil {
		t.Fatal(err)
	}
	if orders != 1 || outbox != 0 {
		t.Fatalf("orders %d, outbox %d; want 1 and 0", orders, outbox)
	}
}

func TestManyCommitsRelayOnceEach(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 50; i++ {
		ids = append(ids, b.placeOrder(t, "o-"+string(rune('a'+i%26))+string(rune('a'+i/26)), true))
	}
	for _, id := range ids {
		if ev := testkit.WaitEvent(t, b.c, id); len(ev.Runs) != 1 {
			t.Fatalf("event %s has %d runs", id, len(ev.Runs))
		}
	}
	page, err := b.c.ListRuns(ctx, herald.ListRunsParams{Workflow: "fulfil", Limit: 500})
	if err != nil || len(page.Items) != 50 {
		t.Fatalf("runs: %d, %v", len(page.Items), err)
	}
}

func TestBadEntriesAreRefusedNotLost(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	if _, err := heraldpg.Push(ctx, b.pool, "default", herald.Event{Key: "bad key"}); err == nil {
		t.Fatal("a bad key was written")
	}
	if _, err := heraldpg.Push(ctx, b.pool, "default", herald.Event{Key: "k", Payload: []int{1}}); err == nil {
		t.Fatal("a non-object payload was written")
	}
	// A tenant that does not exist is refused by the engine and kept, with the reason.
	id, err := heraldpg.Push(ctx, b.pool, "nope", herald.Event{Key: "order:placed"})
	if err != nil {
		t.Fatal(err)
	}
	b.waitRefused(t, id, "no tenant")
	// A row written by hand with an id that is not a UUID (event ids are) is refused too.
	if _, err := b.pool.Exec(ctx, `INSERT INTO herald_outbox (id, tenant, key) VALUES ('order-17', 'default', 'order:placed')`); err != nil {
		t.Fatal(err)
	}
	b.waitRefused(t, "order-17", "UUID")
	// A refused entry does not block the ones after it.
	testkit.WaitEvent(t, b.c, b.placeOrder(t, "o-after", true))
}

// TestAmplifyingExpressionIsRelayedOnce: an outbox entry whose event meets a trigger
// expression that would build a terabyte (`replace` of a 1 MB string by itself) is
// relayed once: the expression fails within its bounds and the event records
// expression_error, the other workflow of the key runs, and the entry is gone, so
// nothing is relayed again (it used to end the process at every relay attempt).
func TestAmplifyingExpressionIsRelayedOnce(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	def := herald.WorkflowDefinition{Name: "celrep", Steps: []herald.StepDefinition{{Name: "s"}},
		ConditionalTriggers: []herald.Trigger{{Key: "order:placed", Expression: `input.s.replace("a", input.s).size() > 0`}}}
	if _, _, err := b.c.PutWorkflow(ctx, def); err != nil {
		t.Fatal(err)
	}
	id, err := heraldpg.Push(ctx, b.pool, "default", herald.Event{Key: "order:placed", Payload: map[string]any{"s": strings.Repeat("a", 1_000_000)}})
	if err != nil {
		t.Fatal(err)
	}
	ev := testkit.WaitEvent(t, b.c, id)
	decisions := map[string]herald.TriggerDecision{}
	for _, d := range ev.Triggers {
		decisions[d.Workflow] = d
	}
	if d := decisions["celrep"]; d.Skipped != "expression_error" || !strings.Contains(d.Error, "replace would allocate 931.3 GiB") {
		t.Fatalf("celrep decision %+v, want expression_error naming the allocation bound", d)
	}
	if len(ev.Runs) != 1 || ev.Runs[0].Workflow != "fulfil" {
		t.Fatalf("runs %+v, want fulfil's only", ev.Runs)
	}
	var left int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM herald_outbox`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d outbox entries left after the relay, want none", left)
	}
}
