package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/storetest"
)

func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, pgtest.NewDatabase(t)) })
}

// TestConcurrentStartersMigrateOnce starts several stores on one new database at once: the
// advisory lock makes exactly one of them apply each migration.
func TestConcurrentStartersMigrateOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	stores := make([]*postgres.Store, 6)
	for i := range stores {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(context.Background(), postgres.Config{URL: url, MaxConns: 2})
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("starter %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var n, max int
	if err := stores[0].Pool().QueryRow(context.Background(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != postgres.LatestVersion() || max != postgres.LatestVersion() {
		t.Fatalf("schema_migrations has %d rows up to %d, want %d", n, max, postgres.LatestVersion())
	}
}

func TestSchemaTooNewRefusesToStart(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := open(t, url)
	if _, err := s.Pool().Exec(context.Background(), `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, postgres.LatestVersion()+1); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(context.Background(), postgres.Config{URL: url})
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("open = %v, want ErrSchemaTooNew", err)
	}
}

func TestBadConfigurationFailsWithOneClearLine(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"unreachable":   "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2",
		"no such db":    "postgres://postgres@127.0.0.1:5432/herald_no_such_database_xyz",
		"no such user":  "postgres://herald_no_such_user_xyz@127.0.0.1:5432/postgres",
		"malformed url": "postgres://[::1",
	}
	pgtest.NewDatabase(t) // skips (or fails in CI) when no server is configured
	for name, url := range cases {
		_, err := postgres.Open(context.Background(), postgres.Config{URL: url})
		if err == nil {
			t.Fatalf("%s: opened", name)
		}
		msg := err.Error()
		if len(msg) > 300 || containsNewline(msg) {
			t.Fatalf("%s: error is not one short line: %q", name, msg)
		}
		t.Logf("%s: %s", name, msg)
	}
}

func containsNewline(s string) bool {
	for _, c := range s {
		if c == '\n' {
			return true
		}
	}
	return false
}
