package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/server"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/testenv"
)

// TestRestartDoesNotWaitOnStoredSchemas: a restart with the schema stored — 2,500
// nested properties, which took 87 s to compile and held /healthz for 96 s — and 50
// ordinary ones answers at once. The deep one was stored by an engine from before the
// bounds (the API refuses it now, so the test writes it into the store directly); it is
// logged and not enforced. The ordinary ones are enforced, each compiled when first
// needed rather than before the engine starts.
func TestRestartDoesNotWaitOnStoredSchemas(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			deep := `{"required":["id"],"properties":{"a":` + strings.Repeat(`{"properties":{"a":`, 2500) + `{}` + strings.Repeat(`}}`, 2500) + `}}`
			schemas := map[string]string{"legacy:deep": deep}
			for i := range 50 {
				schemas[fmt.Sprintf("order:%d", i)] = `{"type":"object","required":["amount"],"properties":{"amount":{"type":"number","minimum":0}}}`
			}
			second, logs := restartWithStoredSchemas(t, name, schemas)
			res, err := http.Get(second.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("/healthz: %d", res.StatusCode)
			}

			cl := sdkClient(t, second.URL, second.Token)
			if _, err := cl.Push(ctx, herald.Event{Key: "legacy:deep", Payload: map[string]any{"no": "id"}}); err != nil {
				t.Fatalf("a push under the schema over the bounds: %v; want it accepted, the schema not enforced", err)
			}
			if !strings.Contains(logs.String(), "legacy:deep") || !strings.Contains(logs.String(), "not enforced") {
				t.Fatalf("the schema over the bounds was not logged:\n%s", logs.String())
			}
			for _, i := range []int{0, 49} {
				_, err := cl.Push(ctx, herald.Event{Key: fmt.Sprintf("order:%d", i), Payload: map[string]any{"amount": "twelve"}})
				var apiErr *herald.APIError
				if !errors.As(err, &apiErr) || apiErr.StatusCode != 422 || apiErr.Field != "payload/amount" {
					t.Fatalf("order:%d: %v; want 422 naming payload/amount", i, err)
				}
			}
		})
	}
}

// restartWithStoredSchemas starts a server on a store of kind name, writes the schemas
// (key to document) into its store directly, as an older engine could have stored them
// (the API refuses some of them now), and starts a second server on the same data. It
// returns the second server and the log it writes.
func restartWithStoredSchemas(t *testing.T, name string, schemas map[string]string) (*testenv.Env, *lockedBuffer) {
	t.Helper()
	ctx := context.Background()
	var o testenv.Options
	if name == "postgres" {
		o.DatabaseURL = pgtest.NewDatabase(t)
	}
	first := testenv.StartWith(t, o)
	cfg := server.Defaults()
	cfg.DataDir, cfg.DatabaseURL = first.DataDir, o.DatabaseURL
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := st.TenantGetByName(ctx, engine.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	for key, doc := range schemas {
		at := time.Now()
		if _, _, err := st.SchemaPut(ctx, store.EventSchema{TenantID: tn.ID, Key: key, Schema: json.RawMessage(doc), CreatedAt: at, UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	logs := &lockedBuffer{}
	o.DataDir, o.Token, o.Log = first.DataDir, first.Token, logs
	return testenv.StartWith(t, o), logs
}

// lockedBuffer is a buffer the engine's logger may write while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStoredSchemaTheCompilerCannotReadIsNotEnforced: a stored schema holding a number the
// schema library cannot read (multipleOf 1e999999999, which the API refuses now, written
// here into the store as an older engine could have) crashed the process in the
// background compile at every start. Now the start survives it: the schema is logged and
// not enforced, and the other schemas are.
func TestStoredSchemaTheCompilerCannotReadIsNotEnforced(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			second, logs := restartWithStoredSchemas(t, name, map[string]string{
				"legacy:number": `{"type":"object","properties":{"n":{"multipleOf":1e999999999}}}`,
				"order:paid":    `{"type":"object","required":["amount"]}`,
			})
			cl := sdkClient(t, second.URL, second.Token)
			// The first push of the key compiles the schema if the warm-up has not yet.
			if _, err := cl.Push(ctx, herald.Event{Key: "legacy:number", Payload: map[string]any{"n": 3}}); err != nil {
				t.Fatalf("a push under the stored schema the compiler cannot read: %v; want it accepted, the schema not enforced", err)
			}
			if !strings.Contains(logs.String(), "legacy:number") || !strings.Contains(logs.String(), "not enforced") || !strings.Contains(logs.String(), "compiler failed") {
				t.Fatalf("the unreadable schema was not logged:\n%s", logs.String())
			}
			_, err := cl.Push(ctx, herald.Event{Key: "order:paid", Payload: map[string]any{}})
			var apiErr *herald.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 422 || apiErr.Field != "payload/amount" {
				t.Fatalf("order:paid: %v; want 422 naming payload/amount", err)
			}
			res, err := http.Get(second.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("/healthz: %d", res.StatusCode)
			}
		})
	}
}
