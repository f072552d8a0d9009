package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
)

// TestEventSearchUsesIndexes checks the plans of event listings: filtering by key and by
// key prefix must be an index range of (tenant_id, key COLLATE "C", id), also as a generic
// plan (a prepared statement reused with other values), whatever the database collation.
func TestEventSearchUsesIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, err := Open(ctx, Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// A tenant with many events of other keys, so that a key or a prefix is selective.
	fill := `INSERT INTO events (id, tenant_id, key, payload, source, triggers, created_at)
		SELECT lpad(i::text, 12, '0'), 'tenant-1', CASE WHEN i % 500 = 0 THEN 'order:paid' ELSE 'user:' || i END,
			'{}', 'api', '[]', now() FROM generate_series(1, 20000) i`
	for _, q := range []string{fill, "ANALYZE events", "SET enable_seqscan = off", "SET plan_cache_mode = force_generic_plan"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		f    store.EventFilter
		want []string // all must appear in the plan
	}{
		{"key", store.EventFilter{Key: "order:paid", Limit: 50}, []string{"events_tenant_key", "Index Cond", "key"}},
		{"key_prefix", store.EventFilter{KeyPrefix: "order:", Limit: 50}, []string{"events_tenant_key", "Index Cond", "key"}},
	} {
		q, args := listEventsSQL("tenant-1", c.f)
		rows, err := conn.Query(ctx, "EXPLAIN "+q, args...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		plan := strings.Join(lines, "\n")
		var cond string
		for _, l := range lines {
			if strings.Contains(l, "Index Cond") {
				cond = l
			}
		}
		for _, w := range c.want {
			if !strings.Contains(plan, w) || !strings.Contains(cond, "key") {
				t.Errorf("%s: plan does not search the key by index:\n%s", c.name, plan)
				break
			}
		}
	}
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
