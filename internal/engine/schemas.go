package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/heraldhq/herald/internal/store"
)

// SchemaError is a payload that does not conform to the JSON Schema registered for its
// event key (422 schema_violation). Field is the payload's field name ("payload",
// "events[3].payload") followed by the RFC 6901 JSON pointer of the failing value
// ("payload/items/0/price"); for a missing or unexpected property the pointer names that
// property.
//
// A SchemaError is bad input: it unwraps to a *FieldError, so callers that only tell bad
// input from the rest (the outbox relay) treat it as such.
type SchemaError struct {
	// Key is the event key whose schema refused the payload.
	Key     string
	Field   string
	Message string
}

// Error implements error.
func (e *SchemaError) Error() string { return e.Field + ": " + e.Message }

// Unwrap returns the violation as a *FieldError.
func (e *SchemaError) Unwrap() error { return &FieldError{Field: e.Field, Message: e.Message} }

// schemaKey names one tenant's schema.
type schemaKey struct{ tenantID, key string }

// compiledSchema is a stored schema document, compiled when first needed: by the
// engine's warm-up loop, or by the first payload of its key, whichever comes first, so that
// loading the schemas (at start, after a change) never waits on the compiler.
type compiledSchema struct {
	tenantID, key, doc string

	started atomic.Bool
	ready   chan struct{} // closed when compiled (or refused)
	sch     *jsonschema.Schema
	bound   *schemaBound
	err     error
}

func newCompiledSchema(tenantID, key, doc string) *compiledSchema {
	return &compiledSchema{tenantID: tenantID, key: key, doc: doc, ready: make(chan struct{})}
}

// compile compiles the document unless it was or is being compiled. A stored document
// that does not compile within the bounds (an older engine accepted it, or a newer one
// wrote it) is logged, once, and not enforced.
func (cs *compiledSchema) compile(log *slog.Logger) {
	if !cs.started.CompareAndSwap(false, true) {
		return
	}
	cs.sch, cs.bound, cs.err = compileSchema([]byte(cs.doc))
	close(cs.ready)
	if cs.err != nil {
		log.Error("a stored event schema does not compile within the bounds; it is not enforced", "tenant_id", cs.tenantID, "key", cs.key, "err", cs.err)
	}
}

// get returns the compiled schema, compiling it here if nobody started to, else waiting
// for the compiler (or ctx).
func (cs *compiledSchema) get(ctx context.Context, log *slog.Logger) (*jsonschema.Schema, *schemaBound, error) {
	cs.compile(log)
	select {
	case <-cs.ready:
		return cs.sch, cs.bound, cs.err
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// schemaSet is an immutable snapshot of every tenant's compiled schemas.
type schemaSet struct {
	mark string
	m    map[schemaKey]*compiledSchema
}

// schemaCache holds the payload schemas of every tenant, reloaded when the store's schema
// change mark moves. Its zero value is empty and ready.
type schemaCache struct {
	mu  sync.Mutex // serializes reloads
	set atomic.Pointer[schemaSet]
	// warm wakes the loop that compiles the schemas a reload left uncompiled.
	warm chan struct{}
}

// compileSchema checks a JSON Schema document (draft 2020-12 unless its $schema names
// another draft) and compiles it within the bounds (MaxSchemaDepth, MaxSchemaValues,
// MaxSchemaInPlace; MaxSchemaBytes is the caller's). The document must be a JSON object;
// it may not refer to other documents ($ref to an external URL or file is refused), and
// "format" is asserted.
func compileSchema(doc json.RawMessage) (*jsonschema.Schema, *schemaBound, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, nil, fmt.Errorf("is not valid JSON: %w", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, nil, errors.New("must be a JSON object (a JSON Schema)")
	}
	if err := checkSchemaDoc(v); err != nil {
		return nil, nil, err
	}
	return compileDoc(v)
}

// compileDoc compiles a decoded document that passed the document checks, and analyses
// it (analyseSchema). The library was not written for hostile documents: a panic of its
// is recovered into an error naming the schema, so that no document can take the engine
// down, whether it comes with a request or from the store at start.
func compileDoc(v any) (sch *jsonschema.Schema, bound *schemaBound, err error) {
	defer func() {
		if r := recover(); r != nil {
			sch, bound = nil, nil
			err = fmt.Errorf("could not be compiled: the schema compiler failed on it (%v)", r)
		}
	}()
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	c.AssertFormat()
	rc := newRegexpCompiler()
	c.UseRegexpEngine(rc.compile)
	const loc = "herald:///schema.json"
	if err := c.AddResource(loc, v); err != nil {
		return nil, nil, err
	}
	sch, err = c.Compile(loc)
	if err != nil {
		if rc.err != nil {
			return nil, nil, rc.err // one line, rather than the compiler's list of every pattern
		}
		return nil, nil, errors.New(strings.ReplaceAll(err.Error(), loc, "schema"))
	}
	bound, err = analyseSchema(sch, v, func(ptr string) (*jsonschema.Schema, error) {
		return c.Compile(loc + "#" + fragmentOf(ptr))
	})
	if err != nil {
		if rc.err != nil {
			return nil, nil, rc.err
		}
		return nil, nil, err
	}
	// From here on the schema is shared by concurrent validations, which may compile
	// payload strings ("format": "regex"): the budget of the schema's own expressions ends.
	rc.compiling = false
	return sch, bound, nil
}

// checkSchemaNumbers refuses a document holding a number out of the range every stored
// number keeps (store.NumberInRange: a double's range). The library reads a schema's
// numbers as exact rationals, and one math/big cannot read (1e999999999) it takes for
// nil: under multipleOf the compiler's own meta-schema check crashed on it, and under
// minimum or maximum the keyword was silently dropped. PutEventSchema checks it; a stored
// schema is compiled as it is (compileDoc recovers from the crash), so that one an older
// engine saved keeps the enforcement it had.
func checkSchemaNumbers(doc any) error {
	var path []string
	var walk func(v any) error
	walk = func(v any) error {
		switch v := v.(type) {
		case json.Number:
			if !store.NumberInRange([]byte(v)) {
				n := string(v)
				if len(n) > 40 {
					n = n[:40] + "…"
				}
				return fmt.Errorf("holds the number %s at #%s, which is out of range: numbers must be within a double's range "+
					"(about ±1.8e308) and have at most %d digits after the decimal point once written out", n, jsonPointer(path), store.MaxNumberScale)
			}
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				path = append(path, k)
				if err := walk(v[k]); err != nil {
					return err
				}
				path = path[:len(path)-1]
			}
		case []any:
			for i, m := range v {
				path = append(path, strconv.Itoa(i))
				if err := walk(m); err != nil {
					return err
				}
				path = path[:len(path)-1]
			}
		}
		return nil
	}
	return walk(doc)
}

// noLoader refuses every external reference: a schema is one self-contained document, and
// the engine must not read files or the network on a tenant's behalf.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external references are not supported (%s): a schema must be self-contained; use $defs", url)
}

// PutEventSchema compiles a JSON Schema and registers it for an exact event key of the
// tenant, replacing the current one. Every replica enforces it on pushes and webhook
// deliveries of that key: this one before PutEventSchema returns, the others when they
// see the change (at once on PostgreSQL through NOTIFY, else at their next sweep).
// created reports that the key had no schema.
func (e *Engine) PutEventSchema(ctx context.Context, tenantID, key string, doc json.RawMessage) (store.EventSchema, bool, error) {
	if err := ValidateKey("key", key); err != nil {
		if strings.Contains(key, "*") {
			return store.EventSchema{}, false, fieldErr("key", "a schema is registered for an exact event key; patterns such as %q are not allowed", key)
		}
		return store.EventSchema{}, false, err
	}
	doc = bytes.TrimSpace(doc)
	if len(doc) == 0 {
		return store.EventSchema{}, false, fieldErr("schema", "is required: a JSON Schema object")
	}
	if len(doc) > MaxSchemaBytes {
		return store.EventSchema{}, false, fieldErr("schema", "is %d bytes; the limit is %d", len(doc), MaxSchemaBytes)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, doc); err != nil {
		return store.EventSchema{}, false, fieldErr("schema", "is not valid JSON: %v", err)
	}
	if v, err := jsonschema.UnmarshalJSON(bytes.NewReader(buf.Bytes())); err == nil {
		if err := checkSchemaNumbers(v); err != nil {
			return store.EventSchema{}, false, fieldErr("schema", "%v", err)
		}
	}
	cs := newCompiledSchema(tenantID, key, buf.String())
	cs.started.Store(true)
	cs.sch, cs.bound, cs.err = compileSchema(buf.Bytes())
	close(cs.ready)
	if cs.err != nil {
		return store.EventSchema{}, false, fieldErr("schema", "%v", cs.err)
	}
	// Checked here, not in compileSchema: a stored schema that validates nothing keeps
	// refusing every payload, as its author wrote it.
	if why := refusesEveryObject(cs.sch); why != "" {
		return store.EventSchema{}, false, fieldErr("schema", "validates no event: a payload is always a JSON object, and %s", why)
	}
	// Every replica holds every schema compiled: a tenant's count is capped. (Concurrent
	// first puts of different keys may pass the check together: the cap is approximate.)
	have, err := e.store.SchemaList(ctx, tenantID)
	if err != nil {
		return store.EventSchema{}, false, err
	}
	if len(have) >= e.cfg.MaxEventSchemas && !slices.ContainsFunc(have, func(s store.EventSchema) bool { return s.Key == key }) {
		return store.EventSchema{}, false, fieldErr("key", "the tenant has %d payload schemas, the limit; delete one first", len(have))
	}
	at := e.now()
	saved, created, err := e.store.SchemaPut(ctx, store.EventSchema{TenantID: tenantID, Key: key, Schema: buf.Bytes(), CreatedAt: at, UpdatedAt: at})
	if err != nil {
		return saved, false, err
	}
	if err := e.refreshSchemasWith(ctx, cs); err != nil {
		// The schema is saved: the request succeeded. The sweep retries the reload.
		e.log.Warn("reloading payload schemas after a change", "key", key, "err", err)
	}
	return saved, created, nil
}

// GetEventSchema returns the schema registered for a key of the tenant.
func (e *Engine) GetEventSchema(ctx context.Context, tenantID, key string) (store.EventSchema, error) {
	return e.store.SchemaGet(ctx, tenantID, key)
}

// ListEventSchemas lists the tenant's schemas by key.
func (e *Engine) ListEventSchemas(ctx context.Context, tenantID string) ([]store.EventSchema, error) {
	return e.store.SchemaList(ctx, tenantID)
}

// DeleteEventSchema removes the schema of a key: its payloads are no longer checked.
func (e *Engine) DeleteEventSchema(ctx context.Context, tenantID, key string) error {
	if err := e.store.SchemaDelete(ctx, tenantID, key); err != nil {
		return err
	}
	if err := e.refreshSchemas(ctx); err != nil {
		e.log.Warn("reloading payload schemas after a change", "key", key, "err", err)
	}
	return nil
}

// refreshSchemas reloads the schemas when the store's change mark moved (always the first
// time). Documents that did not change keep their compiled form; the others are compiled
// later (compiledSchema), so a reload reads the store and nothing more.
func (bs *base) refreshSchemas(ctx context.Context) error { return bs.refreshSchemasWith(ctx, nil) }

// refreshSchemasWith is refreshSchemas, given the schema a put just compiled.
func (bs *base) refreshSchemasWith(ctx context.Context, fresh *compiledSchema) error {
	c := &bs.schemas
	c.mu.Lock()
	defer c.mu.Unlock()
	mark, err := bs.store.SchemaChangeMark(ctx)
	if err != nil {
		return fmt.Errorf("reading event schema change mark: %w", err)
	}
	cur := c.set.Load()
	if cur != nil && cur.mark == mark {
		return nil
	}
	all, err := bs.store.SchemaListAll(ctx)
	if err != nil {
		return fmt.Errorf("loading event schemas: %w", err)
	}
	next := &schemaSet{mark: mark, m: make(map[schemaKey]*compiledSchema, len(all))}
	pending := false
	for _, s := range all {
		k := schemaKey{s.TenantID, s.Key}
		if cur != nil {
			if old := cur.m[k]; old != nil && old.doc == string(s.Schema) {
				next.m[k] = old
				continue
			}
		}
		if fresh != nil && fresh.tenantID == s.TenantID && fresh.key == s.Key && fresh.doc == string(s.Schema) {
			next.m[k] = fresh
			continue
		}
		next.m[k] = newCompiledSchema(s.TenantID, s.Key, string(s.Schema))
		pending = true
	}
	c.set.Store(next)
	if pending {
		kick(c.warm)
	}
	return nil
}

// warmSchemas compiles the schemas a reload left uncompiled, one at a time, whenever a
// reload kicks it, until ctx ends, so that the first payload of a key seldom waits.
func (bs *base) warmSchemas(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-bs.schemas.warm:
		}
		set := bs.schemas.set.Load()
		if set == nil {
			continue
		}
		for _, cs := range set.m {
			if ctx.Err() != nil {
				return
			}
			cs.compile(bs.log)
		}
	}
}

// schemaPrinter renders the schema library's messages.
var schemaPrinter = message.NewPrinter(language.English)

// checkPayload checks an event's payload against the JSON Schema registered for its key
// in the tenant, if any. A violation is a *SchemaError whose field is field followed by
// the JSON pointer of the failing value. The check is bounded: its cost is estimated
// first (schemaBound.check), and a payload whose validation would take more than
// MaxValidationCost steps is refused without running it; a cancelled ctx stops the
// estimate.
func (bs *base) checkPayload(ctx context.Context, tenantID, field, key string, payload json.RawMessage) error {
	set := bs.schemas.set.Load()
	if set == nil || len(set.m) == 0 {
		return nil
	}
	cs := set.m[schemaKey{tenantID, key}]
	if cs == nil {
		return nil
	}
	sch, bound, err := cs.get(ctx, bs.log)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("compiling the schema of %q: %w", key, err)
		}
		return nil // logged by compile; not enforced
	}
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || bytes.Equal(payload, []byte("null")) {
		payload = json.RawMessage("{}")
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fieldErr(field, "is not valid JSON: %v", err)
	}
	var bad *badNumberError
	switch err := bound.check(ctx, v, MaxValidationCost); {
	case err == nil:
	case errors.Is(err, errCostLimit):
		return &SchemaError{Key: key, Field: field, Message: fmt.Sprintf(
			"checking it against the schema of %q would take more than %d steps (the limit): "+
				"subschemas that apply to the same values again and again (anyOf, oneOf or allOf "+
				"branches that each lead back through $ref) multiply the work at each level of nesting",
			key, MaxValidationCost)}
	case errors.As(err, &bad):
		return &SchemaError{Key: key, Field: field + jsonPointer(bad.path), Message: fmt.Sprintf(
			"is a number whose decimal exponent is beyond ±1,000,000, which the schema of %q cannot compare", key)}
	default:
		return fmt.Errorf("checking %s against the schema of %q: %w", field, key, err)
	}
	err = validate(sch, v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		// The same payload would fail the same way again: bad input, not a passing fault.
		bs.log.Warn("the schema validator failed", "tenant_id", tenantID, "key", key, "err", err)
		return &SchemaError{Key: key, Field: field, Message: fmt.Sprintf("could not be checked against the schema of %q: %v", key, err)}
	}
	leaf := deepestCause(ve)
	loc := append([]string(nil), leaf.InstanceLocation...)
	switch k := leaf.ErrorKind.(type) {
	case *kind.Required:
		loc = append(loc, k.Missing[0])
	case *kind.DependentRequired:
		loc = append(loc, k.Missing[0])
	case *kind.Dependency:
		loc = append(loc, k.Missing[0])
	case *kind.AdditionalProperties:
		loc = append(loc, k.Properties[0])
	}
	return &SchemaError{
		Key:     key,
		Field:   field + jsonPointer(loc),
		Message: fmt.Sprintf("%s (schema of %q)", leaf.ErrorKind.LocalizedString(schemaPrinter), key),
	}
}

// validate runs the library's validator, turning a panic of its into an error: the
// payload is a tenant's input, and no payload may take the engine down.
func validate(sch *jsonschema.Schema, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the validator failed: %v", r)
		}
	}()
	return sch.Validate(v)
}

// deepestCause returns the first of the most deeply located leaf errors: the most
// specific reason a value failed.
func deepestCause(ve *jsonschema.ValidationError) *jsonschema.ValidationError {
	best := ve
	var walk func(v *jsonschema.ValidationError)
	walk = func(v *jsonschema.ValidationError) {
		if len(v.Causes) == 0 {
			if best == ve || len(v.InstanceLocation) > len(best.InstanceLocation) {
				best = v
			}
			return
		}
		for _, c := range v.Causes {
			walk(c)
		}
	}
	walk(ve)
	return best
}

// jsonPointer renders tokens as an RFC 6901 JSON pointer ("" for the whole value).
func jsonPointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return sb.String()
}
