package graphql_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/graphql"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/testenv"
)

// TestOverloadedAndUnavailable: a full ingest queue is OVERLOADED and a closed engine
// UNAVAILABLE, each with extensions.retryAfter as REST's Retry-After, and neither stores
// the event.
func TestOverloadedAndUnavailable(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			// The commit loop does not run yet, and the queue holds 4 KiB.
			st, eng, secret, tenantID := testenv.IdleEngine(t, name, engine.Config{MaxQueuedBytes: 4096})
			srv := httptest.NewServer(graphql.New(eng, graphql.Config{}))
			t.Cleanup(srv.Close)
			c := &client{t: t, url: srv.URL, token: secret}

			// A push whose caller gave up stays queued and fills the queue.
			gone, cancel := context.WithCancel(ctx)
			cancel()
			big := []byte(`{"blob":"` + strings.Repeat("x", 3000) + `"}`)
			if _, err := eng.Push(gone, tenantID, []engine.EventInput{{Key: "filler", Payload: big}}, false); !errors.Is(err, context.Canceled) {
				t.Fatalf("filler: %v", err)
			}
			send := lowStock("sku-1", map[string]any{"note": strings.Repeat("y", 3000)})
			r := c.gql(sendMutation, send)
			e := r.only(t)
			if r.status != 200 || e.code() != "OVERLOADED" || e.Extensions["retryAfter"] != float64(1) || !r.hasData || r.Data != nil {
				t.Fatalf("full queue: %d %s", r.status, r.raw)
			}

			eng.Start()
			eng.Close()
			r = c.gql(sendMutation, send)
			if e := r.only(t); e.code() != "UNAVAILABLE" || e.Extensions["retryAfter"] != float64(2) {
				t.Fatalf("closed engine: %d %s", r.status, r.raw)
			}
			evs, err := st.EventList(ctx, tenantID, store.EventFilter{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				if ev.Key != "filler" {
					t.Fatalf("a refused send stored %s", ev.Key)
				}
			}
		})
	}
}
