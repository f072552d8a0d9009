package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/heraldpg"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/sqlite"
	"github.com/heraldhq/herald/internal/testkit"
)

// The crash tests run an engine in a child process (this test binary, re-executed with
// these variables set) whose delivery of one event key ends the process with SIGKILL.
const (
	// childSQLite or childPostgres names the child's store: a SQLite file or a PostgreSQL URL.
	childSQLite   = "HERALD_DELIVERY_CHILD_SQLITE"
	childPostgres = "HERALD_DELIVERY_CHILD_POSTGRES"
	// childCrashKey is the event key whose delivery kills the child.
	childCrashKey = "HERALD_DELIVERY_CHILD_CRASH_KEY"
)

// testStores runs test on a fresh SQLite store and a fresh PostgreSQL one (see pgtest),
// in parallel, with the environment variable that opens the same store in a child
// process (delivery_crash_test.go).
func testStores(t *testing.T, test func(t *testing.T, st store.Store, childEnv string)) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "h.db")
		st, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, Synchronous: "NORMAL"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		test(t, st, childSQLite+"="+path)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewDatabase(t)
		st, err := postgres.Open(context.Background(), postgres.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		test(t, st, childPostgres+"="+url)
	})
}

// deliveryEngine returns an engine on st, not started, with tenant "default" and a
// workflow that runs for every event key "order:*".
func deliveryEngine(t *testing.T, st store.Store) (*Engine, string) {
	t.Helper()
	e, tenant := quietEngine(t, st, Config{SweepInterval: 20 * time.Millisecond})
	def := store.WorkflowDef{Name: "fulfil", Triggers: store.PlainTriggers("order:*"), Steps: []store.StepDef{{Name: "ship"}}}
	if _, _, err := e.PutWorkflow(context.Background(), tenant, def); err != nil {
		t.Fatal(err)
	}
	return e, tenant
}

// quietEngine returns an engine on st with cfg, not started, logging nothing, closed when
// the test ends, and the id of its bootstrapped tenant "default".
func quietEngine(t *testing.T, st store.Store, cfg Config) (*Engine, string) {
	t.Helper()
	ctx := context.Background()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := New(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if _, err := e.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	tn, err := st.TenantGetByName(ctx, DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	return e, tn.ID
}

// storeDue stores, through the store as a push with a delay would, delayed events of the
// keys, due now, earliest first; it returns their ids.
func storeDue(t *testing.T, st store.Store, tenantID string, keys ...string) []string {
	t.Helper()
	var ids []string
	due := now().Add(-time.Second)
	for i, key := range keys {
		id := NewID()
		ev := &store.Event{ID: id, TenantID: tenantID, Key: key, Payload: []byte(`{}`), Source: store.SourceAPI, CreatedAt: due,
			Triggers: []store.TriggerDecision{}}
		if err := st.EventInsert(context.Background(), []store.IngestItem{{Event: ev, DeliverAt: due.Add(time.Duration(i) * time.Millisecond)}}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// waitScheduled polls the delayed event id until it is no longer scheduled, and returns
// it; ok is false when it was delivered.
func waitScheduled(t *testing.T, st store.Store, tenantID, id string) (s store.ScheduledEvent, ok bool) {
	t.Helper()
	type state struct {
		s     store.ScheduledEvent
		found bool
	}
	r := testkit.Poll(t, fmt.Sprintf("delayed event %s to be no longer scheduled", id), func() (state, bool) {
		s, err := st.ScheduledGet(context.Background(), tenantID, id)
		if errors.Is(err, store.ErrNotFound) {
			return state{}, true
		}
		if err != nil {
			t.Fatal(err)
		}
		return state{s, true}, s.Status != store.ScheduledPending
	})
	return r.s, r.found
}

// wantDelivered checks that the delayed event id was delivered with one run.
func wantDelivered(t *testing.T, st store.Store, tenantID, id string) {
	t.Helper()
	if s, pending := waitScheduled(t, st, tenantID, id); pending {
		t.Fatalf("delayed event %s is %s (%s), want delivered", id, s.Status, s.Error)
	}
	ev, err := st.EventGet(context.Background(), tenantID, id)
	if err != nil {
		t.Fatalf("delivered event %s: %v", id, err)
	}
	if len(ev.Triggers) != 1 || ev.Triggers[0].RunID == "" {
		t.Fatalf("delivered event %s has triggers %+v, want one run", id, ev.Triggers)
	}
}

// wantNotDelivered checks that no event and no run exist for id.
func wantNotDelivered(t *testing.T, st store.Store, tenantID, id string) {
	t.Helper()
	if _, err := st.EventGet(context.Background(), tenantID, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("event %s was delivered (%v)", id, err)
	}
	runs, err := st.RunList(context.Background(), tenantID, store.RunFilter{EventID: id, Limit: 10})
	if err != nil || len(runs) != 0 {
		t.Errorf("event %s started runs %v (%v)", id, runs, err)
	}
}

// TestPanicAtDeliveryFailsTheEventAndTheEngineGoesOn: a panic while delivering a delayed
// event (injected through beforeDelivery: no real delivery path is known to panic) is
// recovered; the event is failed with the panic's message, the event delivered in the
// same batch is delivered, and the engine goes on delivering. It used to end the process.
func TestPanicAtDeliveryFailsTheEventAndTheEngineGoesOn(t *testing.T) {
	testStores(t, func(t *testing.T, st store.Store, _ string) {
		ctx := context.Background()
		e, tenant := deliveryEngine(t, st)
		e.beforeDelivery = func(key string) {
			if key == "order:poison" {
				panic("a dependency failed")
			}
		}
		ids := storeDue(t, st, tenant, "order:paid", "order:poison", "order:shipped")
		e.Start()

		s, _ := waitScheduled(t, st, tenant, ids[1])
		if s.Status != store.ScheduledFailed || s.Error != "delivery panicked: a dependency failed" {
			t.Fatalf("poisoned event is %s with error %q, want failed with the panic", s.Status, s.Error)
		}
		wantNotDelivered(t, st, tenant, ids[1])
		wantDelivered(t, st, tenant, ids[0])
		wantDelivered(t, st, tenant, ids[2])

		// The engine goes on: a delayed event pushed now is delivered.
		res, err := e.Push(ctx, tenant, []EventInput{{Key: "order:later", DeliverAt: time.Now().Add(50 * time.Millisecond)}}, false)
		if err != nil {
			t.Fatal(err)
		}
		wantDelivered(t, st, tenant, res[0].Event.ID)
	})
}

// outboxPool returns a connection pool to the database of url, for writing outbox
// entries as an application does.
func outboxPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// writeOutbox writes outbox entries of the keys, oldest first, and returns their ids.
func writeOutbox(t *testing.T, pool *pgxpool.Pool, keys ...string) []string {
	t.Helper()
	var ids []string
	for _, key := range keys {
		id, err := heraldpg.Push(context.Background(), pool, DefaultTenant, herald.Event{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// waitOutbox polls the outbox entry id until it is gone (relayed: ok is false) or refused
// (its error is returned).
func waitOutbox(t *testing.T, pool *pgxpool.Pool, id string) (reason string, ok bool) {
	t.Helper()
	type state struct {
		attempts int
		reason   *string
	}
	r := testkit.Poll(t, fmt.Sprintf("outbox entry %s to be relayed or refused (attempts)", id), func() (state, bool) {
		var r state
		err := pool.QueryRow(context.Background(), `SELECT error, attempts FROM herald_outbox WHERE id = $1`, id).Scan(&r.reason, &r.attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return state{}, true
		}
		if err != nil {
			t.Fatal(err)
		}
		return r, r.reason != nil
	})
	if r.reason == nil {
		return "", false
	}
	return *r.reason, true
}

// wantRelayed checks that the outbox entry id became an event with one run.
func wantRelayed(t *testing.T, st store.Store, pool *pgxpool.Pool, tenantID, id string) {
	t.Helper()
	if reason, refused := waitOutbox(t, pool, id); refused {
		t.Fatalf("outbox entry %s refused: %s", id, reason)
	}
	ev, err := st.EventGet(context.Background(), tenantID, id)
	if err != nil || len(ev.Triggers) != 1 || ev.Triggers[0].RunID == "" {
		t.Fatalf("relayed event %s: %+v, %v; want one run", id, ev.Triggers, err)
	}
}

// TestPanicAtRelayRefusesTheEntryAndTheRelayGoesOn: the same for outbox entries: the
// entry whose relay panics gets the panic as its error, and the others are relayed.
func TestPanicAtRelayRefusesTheEntryAndTheRelayGoesOn(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	st, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pool := outboxPool(t, url)
	e, tenant := deliveryEngine(t, st)
	e.beforeDelivery = func(key string) {
		if key == "order:poison" {
			panic("a dependency failed")
		}
	}
	ids := writeOutbox(t, pool, "order:paid", "order:poison", "order:shipped")
	e.Start()

	if reason, refused := waitOutbox(t, pool, ids[1]); !refused || reason != "delivery panicked: a dependency failed" {
		t.Fatalf("poisoned entry: refused %v with %q, want the panic", refused, reason)
	}
	wantNotDelivered(t, st, tenant, ids[1])
	wantRelayed(t, st, pool, tenant, ids[0])
	wantRelayed(t, st, pool, tenant, ids[2])
	later := writeOutbox(t, pool, "order:later")
	wantRelayed(t, st, pool, tenant, later[0])
}

// TestAbandonedDeliveryGivesItsAttemptBack: a delivery the engine gives up for a reason of
// its own — here it is overloaded: the event is larger than its ingest queue — gives the
// claim's attempt back, so that an overloaded engine does not fail the events it could
// not deliver yet, however often it tries. The same for an outbox entry.
func TestAbandonedDeliveryGivesItsAttemptBack(t *testing.T) {
	big := json.RawMessage(`{"blob":"` + strings.Repeat("x", 3000) + `"}`)
	testStores(t, func(t *testing.T, st store.Store, _ string) {
		ctx := context.Background()
		e, tenant := deliveryEngine(t, st)
		e.cfg.MaxQueuedBytes = 1024
		e.claimFor = 0 // each claim ends at once: the next DeliverDue claims the event again
		id := NewID()
		due := now().Add(-time.Second)
		ev := &store.Event{ID: id, TenantID: tenant, Key: "order:big", Payload: big, Source: store.SourceAPI, CreatedAt: due,
			Triggers: []store.TriggerDecision{}}
		if err := st.EventInsert(ctx, []store.IngestItem{{Event: ev, DeliverAt: due}}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < MaxDeliveryAttempts+2; i++ {
			if _, err := e.DeliverDue(ctx); !errors.Is(err, ErrOverloaded) {
				t.Fatalf("DeliverDue %d: %v, want ErrOverloaded", i+1, err)
			}
		}
		s, err := st.ScheduledGet(ctx, tenant, id)
		if err != nil || s.Status != store.ScheduledPending || s.Attempts != 0 {
			t.Fatalf("after %d overloaded deliveries: %s %q, %d attempts (%v); want scheduled, 0 attempts",
				MaxDeliveryAttempts+2, s.Status, s.Error, s.Attempts, err)
		}

		ob, ok := st.(store.Outbox)
		if !ok {
			return
		}
		pool := st.(*postgres.Store).Pool()
		if _, err := heraldpg.Push(ctx, pool, DefaultTenant, herald.Event{Key: "order:big", Payload: big}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < MaxDeliveryAttempts+2; i++ {
			if err := e.relay.relayPending(ctx, ob, map[string]string{}); !errors.Is(err, ErrOverloaded) {
				t.Fatalf("relay %d: %v, want ErrOverloaded", i+1, err)
			}
		}
		var attempts int
		var reason *string
		if err := pool.QueryRow(ctx, `SELECT attempts, error FROM herald_outbox`).Scan(&attempts, &reason); err != nil {
			t.Fatal(err)
		}
		if attempts != 0 || reason != nil {
			t.Fatalf("outbox entry after %d overloaded relays: %d attempts, error %v; want 0, none", MaxDeliveryAttempts+2, attempts, reason)
		}
	})
}
