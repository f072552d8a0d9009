package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/testkit"
)

// runningServer is a server started in this process that the test stops itself.
type runningServer struct {
	srv  *server.Server
	done chan error
}

// startDelayServer starts a server on dir (SQLite) or db (PostgreSQL when not "").
func startDelayServer(t *testing.T, dir, db string) *runningServer {
	t.Helper()
	cfg := server.Defaults()
	cfg.DataDir, cfg.DatabaseURL, cfg.Addr = dir, db, "127.0.0.1:0"
	cfg.SQLiteSynchronous = "NORMAL"
	cfg.SweepInterval = time.Minute // only the dispatcher's timer can deliver on time
	if db != "" {
		cfg.MasterKey = testenv.SharedMasterKey()
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("starting herald: %v", err)
	}
	rs := &runningServer{srv: srv, done: make(chan error, 1)}
	go func() { rs.done <- srv.Serve() }()
	t.Cleanup(func() { rs.stop(t) })
	return rs
}

// stop shuts the server down (once).
func (rs *runningServer) stop(t *testing.T) {
	t.Helper()
	if rs.done == nil {
		return
	}
	if err := rs.srv.Shutdown(context.Background()); err != nil {
		t.Errorf("shutting down: %v", err)
	}
	if err := <-rs.done; err != nil {
		t.Errorf("serving: %v", err)
	}
	rs.done = nil
}

// TestDelayedEventSurvivesRestart: an event delayed on one server, stopped before the
// event is due, triggers its workflow when due on a new server on the same database.
func TestDelayedEventSurvivesRestart(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir, db := t.TempDir(), ""
			if store == "postgres" {
				db = pgtest.NewDatabase(t)
			}
			first := startDelayServer(t, dir, db)
			token := first.srv.AdminToken
			c1 := sdkClient(t, first.srv.URL(), token)
			putWorkflows(t, c1, oneStep("ship", "order:paid"))
			res, err := c1.PushAfter(ctx, herald.Event{Key: "order:paid", Payload: map[string]any{"order": 42}}, 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if res.Event.Status != herald.EventScheduled || res.Event.DeliverAt == nil || len(res.Runs) != 0 {
				t.Fatalf("push replied %+v", res)
			}
			due := *res.Event.DeliverAt
			first.stop(t)
			if !time.Now().Before(due) {
				t.Fatalf("the first server ran until the event was due; the test proves nothing")
			}

			second := startDelayServer(t, dir, db)
			c2 := sdkClient(t, second.srv.URL(), token)
			ev := testkit.WaitEvent(t, c2, res.Event.ID)
			if ev.Status != herald.EventDelivered {
				t.Fatalf("event %s is %s, want delivered", ev.ID, ev.Status)
			}
			if ev.CreatedAt.Before(due) || ev.CreatedAt.Sub(due) > time.Second {
				t.Errorf("delivered at %s, due %s: want within a second after", ev.CreatedAt, due)
			}
			if len(ev.Runs) != 1 || ev.Runs[0].Workflow != "ship" {
				t.Fatalf("delivered event started %+v, want one run of ship", ev.Runs)
			}
			if string(ev.Payload) != `{"order":42}` && string(ev.Payload) != `{"order": 42}` {
				t.Errorf("payload = %s", ev.Payload)
			}
		})
	}
}

// TestReplicasDeliverDelayedEventsOnce: events delayed through two replicas of one
// PostgreSQL database, all due at the same moment, are each delivered once, with one run.
func TestReplicasDeliverDelayedEventsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	_, cls := cluster(t, testenv.Options{DatabaseURL: db}, 2, oneStep("ship", "order:paid"))
	ca, cb := cls[0], cls[1]

	const n = 40
	due := time.Now().Add(2 * time.Second)
	ids := map[string]bool{}
	for i := 0; i < n; i++ {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		res, err := c.PushAt(ctx, herald.Event{Key: "order:paid", Payload: map[string]any{"i": i}}, due)
		if err != nil {
			t.Fatal(err)
		}
		ids[res.Event.ID] = true
	}
	testkit.Poll(t, "no event still scheduled after they were due (scheduled)", func() (int, bool) {
		page, err := cb.ListEvents(ctx, herald.ListEventsParams{Status: herald.EventScheduled, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Items), len(page.Items) == 0
	})
	events := listAllEvents(t, ca)
	if len(events) != n {
		t.Fatalf("%d events delivered, want %d", len(events), n)
	}
	for id := range events {
		if !ids[id] {
			t.Errorf("event %s was not pushed", id)
		}
		ev, err := ca.GetEvent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(ev.Runs) != 1 {
			t.Errorf("event %s started %d runs, want 1", id, len(ev.Runs))
		}
		if ev.CreatedAt.Sub(due) > time.Second {
			t.Errorf("event %s delivered %s after it was due", id, ev.CreatedAt.Sub(due))
		}
	}
	if runs := listAllRuns(t, ca, ""); len(runs) != n {
		t.Errorf("%d runs, want %d", len(runs), n)
	}
	failed, err := ca.ListEvents(ctx, herald.ListEventsParams{Status: herald.EventFailed})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed.Items) != 0 {
		t.Errorf("failed deliveries: %+v", failed.Items)
	}
}
