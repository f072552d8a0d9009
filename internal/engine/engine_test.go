package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/store/sqlite"
	"github.com/heraldhq/herald/internal/testkit"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "h.db"), Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// openPostgres opens a store on a fresh PostgreSQL database (the test is skipped without
// one; see internal/pgtest).
func openPostgres(t *testing.T) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), postgres.Config{URL: pgtest.NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// startEngine starts an engine on st that stops with the test, and returns it with the
// tenant of its admin token.
func startEngine(t *testing.T, st store.Store, cfg engine.Config) (*engine.Engine, string) {
	t.Helper()
	ctx := context.Background()
	eng, err := engine.New(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	eng.Start()
	t.Cleanup(eng.Close)
	return eng, bootstrapTenant(t, eng)
}

// TestBackpressureRefusesInsteadOfQueueingWithoutBound fills the ingest queue of an engine
// whose commit loop is not running yet: the next push is refused with ErrOverloaded (429 with
// Retry-After over HTTP) instead of growing memory, and once the loop runs, pushes succeed
// and the queued request is committed.
func TestBackpressureRefusesInsteadOfQueueingWithoutBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	eng, secret := bootstrapped(t, st, engine.Config{MaxQueuedBytes: 4096})
	p, err := eng.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	big := []byte(`{"blob":"` + strings.Repeat("x", 3000) + `"}`)
	// The caller gives up at once, but its request stays queued: its bytes still count.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := eng.Push(gone, p.TenantID, []engine.EventInput{{Key: "k", Payload: big}}, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("first push: %v", err)
	}
	if _, err := eng.Push(ctx, p.TenantID, []engine.EventInput{{Key: "k", Payload: big}}, false); !errors.Is(err, engine.ErrOverloaded) {
		t.Fatalf("second push: %v, want ErrOverloaded", err)
	}
	h := api.New(eng, api.Config{})
	req := httptest.NewRequest("POST", "/api/v1/events", strings.NewReader(`{"key":"k","payload":`+string(big)+`}`))
	req.Header.Set("Authorization", "Bearer "+secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), `"overloaded"`) {
		t.Fatalf("HTTP: %d %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	evs, err := st.EventList(ctx, p.TenantID, store.EventFilter{Limit: 10})
	if err != nil || len(evs) != 0 {
		t.Fatalf("events before the loop runs: %d, %v", len(evs), err)
	}

	eng.Start()
	// The queued request commits first; until its bytes are released, pushes are refused.
	var res []engine.PushResult
	// A producer honouring Retry-After, compressed: it tries again every polling interval.
	testkit.Eventually(t, "a push accepted once the loop runs", func() bool {
		res, err = eng.Push(ctx, p.TenantID, []engine.EventInput{{Key: "k", Payload: big}}, false)
		return !errors.Is(err, engine.ErrOverloaded)
	})
	if err != nil {
		t.Fatalf("push once the loop runs: %v", err)
	}
	// The abandoned request was committed before this one (FIFO); the refused ones never.
	evs, err = st.EventList(ctx, p.TenantID, store.EventFilter{Limit: 10})
	if err != nil || len(evs) != 2 || evs[0].ID != res[0].Event.ID {
		t.Fatalf("events after: %d %v", len(evs), err)
	}
}

func TestNormalizeWorkflowHashIgnoresDefaults(t *testing.T) {
	t.Parallel()
	a := store.WorkflowDef{Name: "w", Steps: []store.StepDef{{Name: "s"}}}
	b := store.WorkflowDef{Name: "w", Steps: []store.StepDef{{Name: "s", TimeoutMS: 60000, Retry: store.RetryDef{MaxAttempts: 3}}}}
	_, ha, err := engine.NormalizeWorkflow(a)
	if err != nil {
		t.Fatal(err)
	}
	_, hb, err := engine.NormalizeWorkflow(b)
	if err != nil {
		t.Fatal(err)
	}
	if ha != hb {
		t.Fatal("a definition spelling out the defaults is a new version")
	}
	c := store.WorkflowDef{Name: "w", Steps: []store.StepDef{{Name: "s", TimeoutMS: 30000}}}
	if _, hc, _ := engine.NormalizeWorkflow(c); hc == ha {
		t.Fatal("a changed timeout is not a new version")
	}
}

// TestEventSchemaCap: a tenant may register MaxEventSchemas payload schemas; one more key
// is refused naming the key and stores nothing, while replacing a registered key and other
// tenants are unaffected.
func TestEventSchemaCap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	eng, err := engine.New(ctx, st, engine.Config{MaxEventSchemas: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, id := range []string{"t1", "t2"} {
		if err := st.TenantCreate(ctx, store.Tenant{ID: id, Name: id, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	doc := json.RawMessage(`{"type":"object"}`)
	for _, key := range []string{"a", "b", "a"} {
		if _, _, err := eng.PutEventSchema(ctx, "t1", key, doc); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	_, _, err = eng.PutEventSchema(ctx, "t1", "c", doc)
	var fe *engine.FieldError
	if !errors.As(err, &fe) || fe.Field != "key" {
		t.Fatalf("third key: %v, want a FieldError naming key", err)
	}
	if have, _ := eng.ListEventSchemas(ctx, "t1"); len(have) != 2 {
		t.Errorf("tenant has %d schemas after the refusal, want 2", len(have))
	}
	if _, _, err := eng.PutEventSchema(ctx, "t2", "c", doc); err != nil {
		t.Errorf("another tenant: %v", err)
	}
}
