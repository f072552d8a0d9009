package testenv

import (
	"testing"

	"github.com/heraldhq/herald/internal/pgtest"
)

// ForEachStore runs test, in parallel subtests named "sqlite" and "postgres", against an
// engine started with o on each store: SQLite, and PostgreSQL on a fresh database of its
// own (internal/pgtest; skipped without HERALD_TEST_DATABASE_URL unless
// HERALD_REQUIRE_POSTGRES is set). Switching stores must change nothing a user can see.
// It marks t parallel.
func ForEachStore(t *testing.T, o Options, test func(t *testing.T, env *Env)) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		so := o
		so.DatabaseURL = ""
		test(t, StartWith(t, so))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		po := o
		po.DatabaseURL = pgtest.NewDatabase(t)
		test(t, StartWith(t, po))
	})
}
