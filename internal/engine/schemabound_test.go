package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/postgres"
	"github.com/heraldhq/herald/internal/testkit"
)

// issueSchema is the issue's recursive anyOf: validating a payload n levels deep takes
// about 2^n steps.
const issueSchema = `{"$defs":{"n":{"anyOf":[` +
	`{"type":"object","properties":{"a":{"$ref":"#/$defs/n"}},"required":["zz"]},` +
	`{"type":"object","properties":{"a":{"$ref":"#/$defs/n"}},"required":["yy"]}]}},"$ref":"#/$defs/n"}`

func nestedPayload(depth int) any {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(strings.Repeat(`{"a":`, depth) + `{}` + strings.Repeat(`}`, depth)))
	if err != nil {
		panic(err)
	}
	return v
}

// TestStartCompilesNoStoredSchema: loading the stored schemas (engine.New, at start, and
// each reload) reads them and compiles none, however many and large; the first payload of
// a key compiles its schema, and the warm-up loop the others. A stored schema that an
// older engine accepted and that is now over the bounds is not enforced.
func TestStartCompilesNoStoredSchema(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store { return openSQLite(t) },
		"postgres": func(t *testing.T) store.Store {
			st, err := postgres.Open(context.Background(), postgres.Config{URL: pgtest.NewDatabase(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := open(t)
			tenant := NewID()
			if err := st.TenantCreate(ctx, store.Tenant{ID: tenant, Name: "acme", CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			put := func(key, doc string) {
				at := time.Now()
				if _, _, err := st.SchemaPut(ctx, store.EventSchema{TenantID: tenant, Key: key, Schema: json.RawMessage(doc), CreatedAt: at, UpdatedAt: at}); err != nil {
					t.Fatal(err)
				}
			}
			put("legacy:deep", `{"required":["id"],"properties":{"a":`+strings.Repeat(`{"properties":{"a":`, 2500)+`{}`+strings.Repeat(`}}`, 2500)+`}}`)
			put("legacy:cycle", `{"$ref":"#"}`)
			for i := range 20 {
				put(fmt.Sprintf("order:%d", i), `{"required":["amount"],"properties":{"amount":{"type":"number"}}}`)
			}

			e, err := New(ctx, st, Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.Close)
			set := e.schemas.set.Load()
			if len(set.m) != 22 {
				t.Fatalf("%d schemas loaded, want 22", len(set.m))
			}
			for k, cs := range set.m {
				if cs.started.Load() {
					t.Errorf("%s was compiled while the engine was created", k.key)
				}
			}

			// Not started: no warm-up yet; the first payload compiles its key's schema alone.
			push := func(key, payload string) error {
				_, err := e.Push(ctx, tenant, []EventInput{{Key: key, Payload: json.RawMessage(payload)}}, false)
				return err
			}
			var se *SchemaError
			if err := push("order:3", `{"amount":"x"}`); !errors.As(err, &se) || se.Field != "payload/amount" {
				t.Fatalf("order:3: %v, want a violation of payload/amount", err)
			}
			if !set.m[schemaKey{tenant, "order:3"}].started.Load() || set.m[schemaKey{tenant, "order:4"}].started.Load() {
				t.Fatal("the first payload of order:3 compiled other schemas than its own, or not its own")
			}

			e.Start()
			for _, key := range []string{"legacy:deep", "legacy:cycle"} {
				cs := set.m[schemaKey{tenant, key}]
				if _, _, err := cs.get(ctx, e.log); err == nil {
					t.Fatalf("%s compiled", key)
				}
			}
			// The warm-up compiles the rest; a push after it finds its schema compiled.
			testkit.Poll(t, "every schema compiled after the start (not yet)", func() (string, bool) {
				for _, cs := range set.m {
					if !cs.started.Load() {
						return cs.key, false
					}
				}
				return "", true
			})
			if err := push("legacy:deep", `{}`); err != nil {
				t.Fatalf("legacy:deep, over the bounds, enforced: %v", err)
			}
			if err := push("order:19", `{}`); !errors.As(err, &se) || se.Field != "payload/amount" {
				t.Fatalf("order:19: %v, want a violation of payload/amount", err)
			}
		})
	}
}

// TestCostWalkStopsAtItsLimit: the estimate of the issue's schema stops at the limit
// whatever the payload's depth (the validator would take 2^depth steps), refuses nothing
// a shallow payload needs, and stops when its context ends.
func TestCostWalkStopsAtItsLimit(t *testing.T) {
	t.Parallel()
	_, b, err := compileSchema([]byte(issueSchema))
	if err != nil {
		t.Fatal(err)
	}
	for _, depth := range []int{22, 40, 1000} {
		w := &costWalk{b: b, ctx: context.Background(), left: MaxValidationCost}
		if w.eval(b.root, nestedPayload(depth), 0) {
			t.Fatalf("depth %d: the walk finished within the limit", depth)
		}
		if w.left < -(1 + int64(depth)/16) {
			t.Fatalf("depth %d: the walk went on past the limit (%d steps left)", depth, w.left)
		}
	}
	if err := b.check(context.Background(), nestedPayload(8), MaxValidationCost); err != nil {
		t.Fatalf("depth 8: %v", err)
	}
	if err := b.check(context.Background(), nestedPayload(22), MaxValidationCost); !errors.Is(err, errCostLimit) {
		t.Fatalf("depth 22: %v, want errCostLimit", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.check(ctx, nestedPayload(14), MaxValidationCost); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v, want context.Canceled", err)
	}
}

// TestCostWalkResolvesDynamicReferencesAsTheValidator: a $dynamicRef resolves to the
// outermost $dynamicAnchor of its name in the scope the validator took, and the walk
// follows the same subschemas: the list's items go to the number type under "then" and
// to the string type under "else" (as the validator's verdicts show), never to the
// generic list's default.
func TestCostWalkResolvesDynamicReferencesAsTheValidator(t *testing.T) {
	t.Parallel()
	doc := `{"$id":"https://example.com/main",
		"if":{"properties":{"kind":{"const":"numbers"}},"required":["kind"]},
		"then":{"$ref":"numberList"},"else":{"$ref":"stringList"},
		"$defs":{
			"genericList":{"$id":"genericList","properties":{"list":{"items":{"$dynamicRef":"#itemType"}}},
				"$defs":{"defaultItemType":{"$dynamicAnchor":"itemType"}}},
			"numberList":{"$id":"numberList","$defs":{"itemType":{"$dynamicAnchor":"itemType","type":"number"}},"$ref":"genericList"},
			"stringList":{"$id":"stringList","$defs":{"itemType":{"$dynamicAnchor":"itemType","type":"string"}},"$ref":"genericList"}}}`
	sch, b, err := compileSchema([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for payload, valid := range map[string]bool{
		`{"kind":"numbers","list":[1.5]}`: true, `{"kind":"numbers","list":["x"]}`: false,
		`{"list":["x"]}`: true, `{"list":[1]}`: false,
	} {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		if got := sch.Validate(v) == nil; got != valid {
			t.Fatalf("%s: valid=%v, want %v", payload, got, valid)
		}
	}
	v, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"kind":"numbers","list":[1]}`))
	items := map[string]bool{}
	w := &costWalk{b: b, ctx: context.Background(), left: MaxValidationCost, trace: func(s *jsonschema.Schema, vid int) {
		if vid == 2 {
			items[schemaLoc(s)] = true
		}
	}}
	if !w.eval(b.root, v, 0) {
		t.Fatal(w.err)
	}
	for loc, want := range map[string]bool{
		"#/$defs/numberList/$defs/itemType": true, "#/$defs/stringList/$defs/itemType": true,
		"#/$defs/genericList/$defs/defaultItemType": false,
	} {
		if items[loc] != want {
			t.Errorf("the walk applied %s to the list's item: %v, want %v (it applied %v)", loc, items[loc], want, items)
		}
	}
}
