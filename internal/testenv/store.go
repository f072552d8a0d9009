package testenv

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/sqlite"
)

// OpenStore opens a bare store of kind "sqlite" (a file in a temporary directory) or
// "postgres" (a fresh database, see internal/pgtest), closed when the test ends: for tests
// that build an engine by hand rather than start a server.
func OpenStore(t testing.TB, kind string) store.Store {
	t.Helper()
	ctx := context.Background()
	var st store.Store
	var err error
	switch kind {
	case "sqlite":
		st, err = sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "h.db"), Synchronous: "NORMAL"})
	case "postgres":
		st, err = postgres.Open(ctx, postgres.Config{URL: pgtest.NewDatabase(t)})
	default:
		t.Fatalf("no store kind %q", kind)
	}
	if err != nil {
		t.Fatalf("opening the %s store: %v", kind, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
