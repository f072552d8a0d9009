package testenv

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/engine"
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

// IdleEngine creates an engine with cfg on a bare store of kind and does not start it: its
// commit loops do not run, so what is pushed stays queued (tests of a full queue). The
// engine is closed when the test ends. It returns the store, the engine, the bootstrap
// (operator) token and that token's tenant.
func IdleEngine(t testing.TB, kind string, cfg engine.Config) (st store.Store, eng *engine.Engine, token, tenantID string) {
	t.Helper()
	ctx := context.Background()
	st = OpenStore(t, kind)
	eng, err := engine.New(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	if token, err = eng.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := eng.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	return st, eng, token, p.TenantID
}
