package postgres_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
)

// migrateTo applies the migration files up to version to the database at url, as a
// Herald of that version would have.
func migrateTo(t *testing.T, url string, version int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i, f := range files[:version] {
		sql, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(sql)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, i+1); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUpgradeFromVersion9KeepsData upgrades a database of version 9 — text ids, the
// step_queue table — holding an event with metadata, the run it triggered, and a step
// ready now and a retry ready later: after the upgrade the event is found by id and by
// metadata, its run by event, both steps are claimable at their times, and the sweeper
// finds the retry.
func TestUpgradeFromVersion9KeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	migrateTo(t, url, 9)
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`INSERT INTO tenants (id, name, created_at) VALUES ('00000000-0000-7000-8000-000000000001', 'acme', $1)`,
		`INSERT INTO events (id, tenant_id, key, payload, metadata, source, triggers, created_at)
			VALUES ('00000000-0000-7000-8000-0000000000e1', '00000000-0000-7000-8000-000000000001', 'order:placed', '{"n": 1}',
				'{"region": "eu"}', 'api', '[]', $1)`,
		`INSERT INTO runs (id, tenant_id, workflow_id, workflow_name, version, event_id, status, input, created_at)
			VALUES ('00000000-0000-7000-8000-0000000000b1', '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-0000000000a1', 'orders', 1,
				'00000000-0000-7000-8000-0000000000e1', 'queued', '{"n": 1}', $1),
			       ('00000000-0000-7000-8000-0000000000b2', '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-0000000000a1', 'orders', 1,
				NULL, 'running', '{"n": 2}', $1)`,
		`INSERT INTO step_runs (id, tenant_id, run_id, workflow_name, step, position, parents, pending_parents, status,
				attempt, max_attempts, timeout_ms, retry, queued_at)
			VALUES ('00000000-0000-7000-8000-0000000000c1', '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-0000000000b1', 'orders', 'a', 0, '[]', 0, 'queued', 0, 3, 60000, '{}', $1),
			       ('00000000-0000-7000-8000-0000000000c2', '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-0000000000b2', 'orders', 'a', 0, '[]', 0, 'queued', 1, 3, 60000, '{}', $1 + interval '1 second'),
			       ('00000000-0000-7000-8000-0000000000c3', '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-0000000000b2', 'orders', 'b', 1, '["a"]', 1, 'pending', 0, 3, 60000, '{}', NULL)`,
		`INSERT INTO step_queue (step_run_id, tenant_id, workflow_name, available_at)
			VALUES ('00000000-0000-7000-8000-0000000000c1', '00000000-0000-7000-8000-000000000001', 'orders', $1), ('00000000-0000-7000-8000-0000000000c2', '00000000-0000-7000-8000-000000000001', 'orders', $1 + interval '10 seconds')`,
	} {
		if _, err := conn.Exec(ctx, q, base); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	s := open(t, url) // applies versions 10 on
	const tenant, eventID = "00000000-0000-7000-8000-000000000001", "00000000-0000-7000-8000-0000000000e1"
	if e, err := s.EventGet(ctx, tenant, eventID); err != nil || e.Key != "order:placed" || string(e.Metadata) != `{"region": "eu"}` {
		t.Fatalf("event after the upgrade = %+v, %v", e, err)
	}
	if evs, err := s.EventList(ctx, tenant, store.EventFilter{Metadata: map[string]string{"region": "eu"}, Limit: 10}); err != nil || len(evs) != 1 {
		t.Fatalf("events with region eu after the upgrade = %d, %v; want the event", len(evs), err)
	}
	if runs, err := s.RunList(ctx, tenant, store.RunFilter{EventID: eventID, Limit: 10}); err != nil || len(runs) != 1 || runs[0].ID != "00000000-0000-7000-8000-0000000000b1" {
		t.Fatalf("runs of the event after the upgrade = %+v, %v", runs, err)
	}
	key := store.WorkKey{TenantID: tenant, Workflow: "orders"}
	if ks, err := s.StepReadySince(ctx, base.Add(5*time.Second), base.Add(10*time.Second)); err != nil || !reflect.DeepEqual(ks, []store.WorkKey{key}) {
		t.Fatalf("ReadySince(+5s, +10s] = %v, %v, want [%v]", ks, err, key)
	}
	claim := func(at time.Time) []string {
		t.Helper()
		as, err := s.StepClaim(ctx, store.ClaimParams{TenantID: "00000000-0000-7000-8000-000000000001", WorkerID: "w", Workflows: []string{"orders"}, Max: 10, Now: at,
			LeaseFor: time.Minute, NewLeaseID: func() string { return "lease-" + at.String() }})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range as {
			ids = append(ids, a.StepRunID)
			if !a.AvailableAt.Equal(base) && !a.AvailableAt.Equal(base.Add(10*time.Second)) {
				t.Errorf("step-run %s available at %s", a.StepRunID, a.AvailableAt)
			}
		}
		return ids
	}
	if got := claim(base.Add(time.Second)); !reflect.DeepEqual(got, []string{"00000000-0000-7000-8000-0000000000c1"}) {
		t.Fatalf("claimed at +1s: %v, want the ready step", got)
	}
	if got := claim(base.Add(10 * time.Second)); !reflect.DeepEqual(got, []string{"00000000-0000-7000-8000-0000000000c2"}) {
		t.Fatalf("claimed at +10s: %v, want the retry (the pending step stays out of the queue)", got)
	}
	if depths, err := s.StatsQueueDepths(ctx); err != nil || depths["00000000-0000-7000-8000-000000000001"] != 0 {
		t.Fatalf("queue depths after claiming both = %v, %v, want none queued", depths, err)
	}
}

// TestUpgradeToRolesKeepsTokens upgrades a database of version 13, whose tokens carry the
// admin flag, to token roles as docs/api.md says: admin tokens of tenant "default" become
// operators, revoked or not; admin tokens of other tenants become tenant admins; the rest
// members. The tokens still authenticate, and a dashboard session shows its token's role.
func TestUpgradeToRolesKeepsTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	migrateTo(t, url, 13)
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const dflt, acme = "00000000-0000-7000-8000-0000000000d1", "00000000-0000-7000-8000-0000000000d2"
	if _, err := conn.Exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES ($1, 'default', $3), ($2, 'acme', $3)`, dflt, acme, base); err != nil {
		t.Fatal(err)
	}
	tokens := []struct {
		name, tenant     string
		admin, revoked   bool
		wantRole         store.Role
		wantTenantOfList string
	}{
		{"bootstrap", dflt, true, false, store.RoleOperator, "default"},
		{"prometheus", dflt, true, false, store.RoleOperator, "default"},
		{"old-admin", dflt, true, true, store.RoleOperator, "default"},
		{"ci", dflt, false, false, store.RoleMember, "default"},
		{"acme-admin", acme, true, false, store.RoleAdmin, "acme"},
		{"acme-worker", acme, false, false, store.RoleMember, "acme"},
	}
	for i, tk := range tokens {
		var revoked *time.Time
		if tk.revoked {
			revoked = &base
		}
		if _, err := conn.Exec(ctx, `INSERT INTO api_tokens (id, tenant_id, name, hash, admin, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			fmt.Sprintf("00000000-0000-7000-8000-0000000001%02d", i), tk.tenant, tk.name, tokenHash(tk.name), tk.admin, base.Add(time.Duration(i)*time.Second), revoked); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO dashboard_sessions (hash, tenant_id, token_id, csrf, created_at, expires_at)
		VALUES ($1, $2, '00000000-0000-7000-8000-000000000104', 'csrf', $3, $4)`, tokenHash("session"), acme, base, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	s := open(t, url) // applies versions 14 on
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
		if !ok || g.Role != tk.wantRole || g.TenantName != tk.wantTenantOfList || (g.RevokedAt != nil) != tk.revoked {
			t.Errorf("token %s after the upgrade = %+v, want role %s in %s (revoked %v)", tk.name, g, tk.wantRole, tk.wantTenantOfList, tk.revoked)
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
