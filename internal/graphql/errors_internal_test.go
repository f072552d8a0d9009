package graphql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/graphql/generated"
	"github.com/heraldhq/herald/internal/store"
)

// TestErrorCodesMapOneToOne: every error the engine and store return gets, as a GraphQL
// error, the code of the HTTP API in capitals, with its field and Retry-After seconds; an
// unexpected error is INTERNAL and its message is not shown.
func TestErrorCodesMapOneToOne(t *testing.T) {
	h := &Handler{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, tc := range []struct {
		err        error
		code       string
		field      string
		retryAfter int
	}{
		{&engine.FieldError{Field: "limit", Message: "must be between 1 and 500"}, "INVALID_ARGUMENT", "limit", 0},
		{&engine.SchemaError{Key: "k", Field: "payload/a", Message: "bad"}, "SCHEMA_VIOLATION", "payload/a", 0},
		{fmt.Errorf("creating tenants: %w", engine.ErrPermission), "PERMISSION_DENIED", "", 0},
		{engine.ErrUnauthenticated, "UNAUTHENTICATED", "", 0},
		{store.ErrNotFound, "NOT_FOUND", "", 0},
		{fmt.Errorf("name taken: %w", store.ErrConflict), "CONFLICT", "", 0},
		{engine.ErrOverloaded, "OVERLOADED", "", 1},
		{fmt.Errorf("commit: %w", store.ErrUnavailable), "UNAVAILABLE", "", 2},
		{engine.ErrClosed, "UNAVAILABLE", "", 2},
		{errors.New("disk on fire at /var/lib"), "INTERNAL", "", 0},
	} {
		got := h.presentError(context.Background(), tc.err)
		p, _ := api.ProblemOf(tc.err)
		if got.Extensions["code"] != tc.code || got.Extensions["code"] != strings.ToUpper(p.Code) {
			t.Errorf("%v: code %v, want %s (REST %s)", tc.err, got.Extensions["code"], tc.code, p.Code)
		}
		if f, _ := got.Extensions["field"].(string); f != tc.field {
			t.Errorf("%v: field %q, want %q", tc.err, f, tc.field)
		}
		if ra, _ := got.Extensions["retryAfter"].(int); ra != tc.retryAfter || ra != p.RetryAfter {
			t.Errorf("%v: retryAfter %v, want %d", tc.err, got.Extensions["retryAfter"], tc.retryAfter)
		}
		if tc.code == "INTERNAL" && strings.Contains(got.Message, "disk") {
			t.Errorf("internal error shown: %q", got.Message)
		}
	}
}

// TestInputFieldNames: the engine's field names become the input's.
func TestInputFieldNames(t *testing.T) {
	for in, want := range map[string]string{
		"payload":               "input.payload",
		"additional_metadata.a": "input.metadata.a",
		"idempotency_key":       "input.idempotencyKey",
		"deliver_at":            "input.deliverAt",
		"scope":                 "input.scope",
		"input.type":            "input.type",
	} {
		if got := renameField(in, inputNames); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// TestCostModel pins the figures docs/graphql.md gives for the cost model.
func TestCostModel(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &resolver{}}).Schema()
	for _, tc := range []struct {
		query       string
		depth, cost int
	}{
		{`mutation($input: SendCustomEventInput!) { sendCustomEvent(input: $input) { success workflows { type id runID } } }`, 3, 42},
		{`{ events(limit: 50) { items { id key triggers { workflow started } } } }`, 4, 1161},
		{`{ events(limit: 500) { items { runs { steps { name } } } } }`, 5, 105011},
		{`{ run(id: "x") { event { runs { steps { name } } } } }`, 5, 10 + 10 + 10 + 10*(10+10*1)},
		{`{ a: workflows { name } b: workflows { name } __schema { types { name } } }`, 2, 2*(10+10*1) + 100},
	} {
		doc, errs := gqlparser.LoadQuery(schema, tc.query)
		if errs != nil {
			t.Fatalf("%s: %v", tc.query, errs)
		}
		m := &measurer{}
		got := m.selectionSet(doc.Operations[0].SelectionSet, 0)
		if got.depth != tc.depth || got.cost != tc.cost {
			t.Errorf("%s: depth %d cost %d, want %d %d", tc.query, got.depth, got.cost, tc.depth, tc.cost)
		}
	}
}

// TestGeneratedCodeMatchesSchema fails when schema.graphql changed without the generated
// code.
func TestGeneratedCodeMatchesSchema(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &resolver{}}).Schema()
	src := schema.Types["Mutation"].Position.Src
	if src == nil || src.Input != Schema {
		t.Fatal("internal/graphql/generated was not generated from schema.graphql: run go generate ./internal/graphql")
	}
}
