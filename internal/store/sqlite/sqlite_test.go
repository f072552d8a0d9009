package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/sqlite"
	"github.com/heraldhq/herald/internal/store/storetest"
)

// open opens a store at path and closes it when the test ends.
func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, Synchronous: "NORMAL"})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "herald.db"))
	})
}

// rawDB opens the database file directly, without the store.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func migrationRows(t *testing.T, path string) (count, max int) {
	t.Helper()
	db := rawDB(t, path)
	if err := db.QueryRow(`SELECT COUNT(*), COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&count, &max); err != nil {
		t.Fatalf("reading schema_migrations: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return count, max
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "herald.db")
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

	s, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	tn := store.Tenant{ID: "tenant-1", Name: "acme", CreatedAt: at}
	if err := s.TenantCreate(ctx, tn); err != nil {
		t.Fatal(err)
	}
	d := store.WorkflowDef{Name: "orders", Triggers: store.PlainTriggers("orders.*"), Steps: []store.StepDef{{Name: "a", TimeoutMS: 1000,
		Retry: store.RetryDef{MaxAttempts: 1, InitialBackoffMS: 1, MaxBackoffMS: 1, Multiplier: 1}}}}
	if _, _, err := s.WorkflowPut(ctx, store.PutWorkflowParams{TenantID: tn.ID, NewID: "wf-1", Def: d, Hash: "h1", At: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	count, max := migrationRows(t, path)
	if max != sqlite.LatestVersion() {
		t.Fatalf("schema version after first open = %d, want %d", max, sqlite.LatestVersion())
	}

	for i := 0; i < 2; i++ {
		s = open(t, path)
		got, err := s.TenantGetByName(ctx, "acme")
		if err != nil || got.ID != tn.ID {
			t.Fatalf("reopen %d: GetTenantByName = %+v, %v, want tenant-1", i+1, got, err)
		}
		wf, err := s.WorkflowGet(ctx, store.WorkflowGetParams{TenantID: tn.ID, Name: "orders"})
		if err != nil || wf.ID != "wf-1" || wf.Version != 1 {
			t.Fatalf("reopen %d: GetWorkflow = %+v, %v, want wf-1 version 1", i+1, wf, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		c, m := migrationRows(t, path)
		if c != count || m != max {
			t.Fatalf("reopen %d: schema_migrations has %d rows up to %d, want %d up to %d (migrations re-applied?)", i+1, c, m, count, max)
		}
	}
}

func TestSchemaTooNew(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "herald.db")
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, sqlite.LatestVersion()+1); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = sqlite.Open(ctx, sqlite.Config{Path: path})
	if err == nil {
		s.Close()
		t.Fatal("Open of a database migrated by a newer herald succeeded")
	}
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
}

// TestConcurrentOpen: two processes (here: two stores) starting on a new database at once
// both succeed, and the migrations run once.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "herald.db")
	const n = 4
	stores := make([]*sqlite.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = sqlite.Open(ctx, sqlite.Config{Path: path})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		if err := stores[i].Close(); err != nil {
			t.Errorf("Close %d: %v", i, err)
		}
	}
	if t.Failed() {
		return
	}
	count, max := migrationRows(t, path)
	if max != sqlite.LatestVersion() || count != len(migrationVersions(t)) {
		t.Errorf("schema_migrations = %d rows up to %d, want each migration once up to %d", count, max, sqlite.LatestVersion())
	}
}

// migrationVersions counts the embedded migrations through the store's own view: a fresh
// database records exactly one row per migration.
func migrationVersions(t *testing.T) []int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fresh.db")
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := rawDB(t, path)
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

// migrateTo applies the migration files up to version to a new database at path, as a
// Herald of that version would have.
func migrateTo(t *testing.T, path string, version int) *sql.DB {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	db := rawDB(t, path)
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i, f := range files[:version] {
		q, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(q)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, i+1); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestUpgradeToRolesKeepsTokens upgrades a database of version 9, whose tokens carry the
// admin flag, to token roles as docs/api.md says: admin tokens of tenant "default" become
// operators, revoked or not; admin tokens of other tenants become tenant admins; the rest
// members. The tokens still authenticate, and a dashboard session shows its token's role.
func TestUpgradeToRolesKeepsTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "herald.db")
	db := migrateTo(t, path, 9)
	const dflt, acme = "00000000-0000-7000-8000-0000000000d1", "00000000-0000-7000-8000-0000000000d2"
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	if _, err := db.Exec(`INSERT INTO tenants (id, name, created_at) VALUES (?, 'default', ?), (?, 'acme', ?)`, dflt, base.UnixMilli(), acme, base.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	tokens := []struct {
		name, tenant   string
		admin, revoked bool
		wantRole       store.Role
		wantTenant     string
	}{
		{"bootstrap", dflt, true, false, store.RoleOperator, "default"},
		{"prometheus", dflt, true, false, store.RoleOperator, "default"},
		{"old-admin", dflt, true, true, store.RoleOperator, "default"},
		{"ci", dflt, false, false, store.RoleMember, "default"},
		{"acme-admin", acme, true, false, store.RoleAdmin, "acme"},
		{"acme-worker", acme, false, false, store.RoleMember, "acme"},
	}
	for i, tk := range tokens {
		var revoked any
		if tk.revoked {
			revoked = base.UnixMilli()
		}
		if _, err := db.Exec(`INSERT INTO api_tokens (id, tenant_id, name, hash, admin, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			fmt.Sprintf("00000000-0000-7000-8000-0000000001%02d", i), tk.tenant, tk.name, tokenHash(tk.name), tk.admin, base.UnixMilli()+int64(i), revoked); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO dashboard_sessions (hash, tenant_id, token_id, csrf, created_at, expires_at)
		VALUES (?, ?, '00000000-0000-7000-8000-000000000104', 'csrf', ?, ?)`, tokenHash("session"), acme, base.UnixMilli(), base.Add(time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := open(t, path) // applies versions 10 on
	got := map[string]store.Token{}
	for _, tenant := range []string{dflt, acme} {
		toks, err := s.TokenList(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range toks {
			got[tk.Name] = tk
		}
	}
	for _, tk := range tokens {
		g, ok := got[tk.name]
		if !ok || g.Role != tk.wantRole || g.TenantName != tk.wantTenant || (g.RevokedAt != nil) != tk.revoked {
			t.Errorf("token %s after the upgrade = %+v, want role %s in %s (revoked %v)", tk.name, g, tk.wantRole, tk.wantTenant, tk.revoked)
		}
		if !tk.revoked {
			if a, err := s.TokenGetByHash(ctx, tokenHash(tk.name)); err != nil || a.Role != tk.wantRole {
				t.Errorf("token %s by its hash after the upgrade = %+v, %v; want it, role %s", tk.name, a, err, tk.wantRole)
			}
		}
	}
	if se, err := s.SessionGet(ctx, tokenHash("session"), base); err != nil || se.Role != store.RoleAdmin || se.TenantName != "acme" {
		t.Errorf("session after the upgrade = %+v, %v; want acme's admin token's", se, err)
	}
}

func tokenHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// TestFilesArePrivate: the database and its -wal and -shm files are readable by their
// owner only (mode 0600), like the token and the master key, whatever the umask; files an
// older version left readable by others are made private on the next start.
func TestFilesArePrivate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "herald.db")
	files := []string{path, path + "-wal", path + "-shm"}
	check := func(when string) {
		t.Helper()
		for _, p := range files {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if mode := fi.Mode().Perm(); mode != 0o600 {
				t.Errorf("%s: %s has mode %04o, want 0600", when, filepath.Base(p), mode)
			}
		}
	}
	s := open(t, path)
	if err := s.TenantCreate(ctx, store.Tenant{ID: "0194a5c8-0000-7000-8000-000000000001", Name: "private", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	check("new database") // open: the -wal and -shm files exist while a store has it open

	// Files left readable by others (as older versions made them) are made private on start.
	for _, p := range files {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s2, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	check("existing database")
}
