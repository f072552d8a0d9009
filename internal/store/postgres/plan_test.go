package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
)

// TestEventSearchUsesIndexes checks the plans of event listings: filtering by key and by
// key prefix must be an index range of (tenant_id, key COLLATE "C", id), also as a generic
// plan (a prepared statement reused with other values), whatever the database collation;
// a metadata filter must use the partial GIN index (events without metadata have no
// entry), and a plain listing the primary key (tenant_id, id).
func TestEventSearchUsesIndexes(t *testing.T) {
	t.Parallel()
	// A tenant with many events of other keys, so that a key or a prefix is selective.
	conn := planDB(t, `INSERT INTO events (id, tenant_id, key, payload, source, triggers, created_at)
		SELECT ('00000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, '00000000-0000-7000-8000-000000000001', CASE WHEN i % 500 = 0 THEN 'order:paid' ELSE 'user:' || i END,
			'{}', 'api', '[]', now() FROM generate_series(1, 20000) i`,
		"ANALYZE events", "SET enable_seqscan = off", "SET plan_cache_mode = force_generic_plan")
	for _, c := range []struct {
		name  string
		f     store.EventFilter
		index string // the index the plan must search
		cond  string // what its Index Cond must name
	}{
		{"key", store.EventFilter{Key: "order:paid", Limit: 50}, "events_tenant_key", "key"},
		{"key_prefix", store.EventFilter{KeyPrefix: "order:", Limit: 50}, "events_tenant_key", "key"},
		{"metadata", store.EventFilter{Metadata: map[string]string{"region": "eu"}, Limit: 50}, "events_metadata", "metadata"},
		{"all", store.EventFilter{Limit: 50}, "events_pkey", "tenant_id"},
	} {
		q, args := listEventsSQL("00000000-0000-7000-8000-000000000001", c.f)
		lines := explain(t, conn, q, args...)
		plan := strings.Join(lines, "\n")
		var cond string
		for _, l := range lines {
			if strings.Contains(l, "Index Cond") {
				cond = l
			}
		}
		if !strings.Contains(plan, c.index) || !strings.Contains(cond, c.cond) {
			t.Errorf("%s: plan does not search %s by %s:\n%s", c.name, c.cond, c.index, plan)
		}
	}
}

// TestReadySinceUsesDeferredIndex checks that the sweeper's query is answered by the
// partial index of deferred queued steps, which ingest does not write, rather than by a
// walk over every queued step (a backlog of 20,000 here).
func TestReadySinceUsesDeferredIndex(t *testing.T) {
	t.Parallel()
	conn := planDB(t, `INSERT INTO step_runs (id, tenant_id, run_id, workflow_name, step, position, parents, pending_parents, status,
			max_attempts, timeout_ms, retry, queued_at, available_at)
		SELECT ('00000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, '00000000-0000-7000-8000-000000000001',
			('00000000-0000-7000-8001-' || lpad(i::text, 12, '0'))::uuid, 'wf-' || (i % 10), 'a', 0, '[]', 0, 'queued',
			3, 60000, '{}', now(), CASE WHEN i % 1000 = 0 THEN now() + interval '1 second' ELSE now() END
		FROM generate_series(1, 20000) i`, "ANALYZE step_runs")
	if plan := strings.Join(explain(t, conn, readySinceSQL, time.Now(), time.Now()), "\n"); !strings.Contains(plan, "step_runs_deferred") {
		t.Errorf("ReadySince does not use step_runs_deferred:\n%s", plan)
	}
}

// planDB migrates a fresh database and returns a connection to it on which setup ran.
func planDB(t *testing.T, setup ...string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, err := Open(ctx, Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	for _, q := range setup {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return conn
}

// explain returns the lines of the plan of q.
func explain(t *testing.T, conn *pgx.Conn, q string, args ...any) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "EXPLAIN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{{"order:", "order;", true}, {"a", "b", true}, {"x/", "x0", true}, {"é", "", false}} {
		got, ok := prefixEnd(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
