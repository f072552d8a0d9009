package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/heraldpg"
	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/dashboard"
	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/testkit"
)

// stuckReason is the error of an item claimed engine.MaxDeliveryAttempts times without
// being delivered.
var stuckReason = fmt.Sprintf("delivery was attempted %d times without completing (the process may have crashed while delivering it)",
	engine.MaxDeliveryAttempts)

// stuckEngine returns an engine on st, not started, its admin token, its tenant, and a
// workflow that runs for every event key "order:*".
func stuckEngine(t *testing.T, st store.Store) (*engine.Engine, string, string) {
	t.Helper()
	ctx := context.Background()
	eng, secret := bootstrapped(t, st, engine.Config{SweepInterval: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	tn, err := st.TenantGetByName(ctx, engine.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	def := store.WorkflowDef{Name: "fulfil", Triggers: store.PlainTriggers("order:*"), Steps: []store.StepDef{{Name: "ship"}}}
	if _, _, err := eng.PutWorkflow(ctx, tn.ID, def); err != nil {
		t.Fatal(err)
	}
	return eng, secret, tn.ID
}

// getJSON answers GET path from h with token.
func getJSON(t *testing.T, h http.Handler, token, path string) map[string]any {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var m map[string]any
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &m) != nil {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	return m
}

// TestDelayedEventWhoseDeliveryNeverCompletesFails: a delayed event claimed
// MaxDeliveryAttempts times without being delivered — claimed here through the store, as
// processes that died delivering it would have — is marked failed by the next claim,
// with the reason, instead of being delivered; the API and the dashboard show it failed,
// and the event due after it is delivered. (Before attempts were counted, it was
// delivered: a process that died delivering it died again at every restart.)
func TestDelayedEventWhoseDeliveryNeverCompletesFails(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T) store.Store{
		"sqlite":   openStore,
		"postgres": func(t *testing.T) store.Store { return openPostgres(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := open(t)
			eng, token, tenant := stuckEngine(t, st)
			due := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Second)
			var ids []string
			for i, key := range []string{"order:stuck", "order:paid"} {
				id := engine.NewID()
				ev := &store.Event{ID: id, TenantID: tenant, Key: key, Payload: []byte(`{}`), Source: store.SourceAPI, CreatedAt: due,
					Triggers: []store.TriggerDecision{}}
				if err := st.EventInsert(ctx, []store.IngestItem{{Event: ev, DeliverAt: due.Add(time.Duration(i) * time.Millisecond)}}); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			stuck, paid := ids[0], ids[1]
			// Claims that never completed; each ends at once.
			for i := 0; i < engine.MaxDeliveryAttempts; i++ {
				at := time.Now().UTC().Truncate(time.Millisecond)
				cl, err := st.ScheduledClaim(ctx, store.DeliveryClaim{Now: at, Until: at, Limit: 1, Retried: i > 0})
				if err != nil || len(cl) != 1 || cl[0].ID != stuck {
					t.Fatalf("claim %d: %+v, %v", i+1, cl, err)
				}
			}

			eng.Start()
			h := api.New(eng, api.Config{})
			testkit.Poll(t, "the event due after the stuck one to be delivered (status)", func() (any, bool) {
				ev := getJSON(t, h, token, "/api/v1/events/"+paid)
				return ev["status"], ev["status"] == "delivered"
			})
			ev := getJSON(t, h, token, "/api/v1/events/"+stuck)
			runs, _ := ev["runs"].([]any)
			if ev["status"] != "failed" || ev["delivery_error"] != stuckReason || len(runs) != 0 {
				t.Fatalf("stuck event = %v, want failed with %q and no runs", ev, stuckReason)
			}
			if _, err := st.EventGet(ctx, tenant, stuck); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the stuck event was delivered (%v)", err)
			}
			if runs, err := st.RunList(ctx, tenant, store.RunFilter{EventID: stuck, Limit: 10}); err != nil || len(runs) != 0 {
				t.Errorf("the stuck event started runs %v (%v)", runs, err)
			}
			list := getJSON(t, h, token, "/api/v1/events?status=failed")
			if items, _ := list["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != stuck {
				t.Errorf("failed events = %v, want the stuck one", list)
			}

			d, err := dashboard.New(eng, dashboard.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(d)
			defer srv.Close()
			hc := &http.Client{Timeout: 30 * time.Second}
			if err := dashboard.SignIn(ctx, hc, srv.URL, token); err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Get(srv.URL + "/events/" + stuck)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{`id="scheduled-status">failed<`, stuckReason} {
				if !strings.Contains(string(body), want) {
					t.Errorf("the dashboard's page of the stuck event lacks %q", want)
				}
			}
		})
	}
}

// TestOutboxEntryWhoseRelayNeverCompletesIsRefused: the same for an outbox entry: claimed
// MaxDeliveryAttempts times without being relayed, the next claim refuses it (its error
// says why, and it stays for inspection) instead of relaying it, and the entry after it
// is relayed.
func TestOutboxEntryWhoseRelayNeverCompletesIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openPostgres(t)
	pool := st.Pool() // as an application writes its outbox
	eng, _, tenant := stuckEngine(t, st)
	var ids []string
	for _, key := range []string{"order:stuck", "order:paid"} {
		id, err := heraldpg.Push(ctx, pool, engine.DefaultTenant, herald.Event{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	stuck, paid := ids[0], ids[1]
	for i := 0; i < engine.MaxDeliveryAttempts; i++ {
		at := time.Now().UTC()
		cl, err := st.OutboxClaim(ctx, store.DeliveryClaim{Now: at, Until: at, Limit: 1, Retried: i > 0})
		if err != nil || len(cl) != 1 || cl[0].ID != stuck {
			t.Fatalf("claim %d: %+v, %v", i+1, cl, err)
		}
	}

	eng.Start()
	ev := testkit.Poll(t, "the entry after the stuck one to be relayed", func() (store.Event, bool) {
		ev, err := st.EventGet(ctx, tenant, paid)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the entry after the stuck one: %v", err)
		}
		return ev, err == nil
	})
	if len(ev.Triggers) != 1 {
		t.Fatalf("relayed event has triggers %+v, want one run", ev.Triggers)
	}
	reason := testkit.Poll(t, "the stuck entry to be refused", func() (string, bool) {
		var reason *string
		if err := pool.QueryRow(ctx, `SELECT error FROM herald_outbox WHERE id = $1`, stuck).Scan(&reason); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				t.Fatal("the stuck entry was relayed")
			}
			t.Fatal(err)
		}
		if reason == nil {
			return "", false
		}
		return *reason, true
	})
	if reason != stuckReason {
		t.Fatalf("stuck entry's error = %v, want %q", reason, stuckReason)
	}
	if _, err := st.EventGet(ctx, tenant, stuck); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the stuck entry became an event (%v)", err)
	}
}
