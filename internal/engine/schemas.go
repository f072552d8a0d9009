package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/heraldhq/herald/internal/store"
)

// MaxSchemaBytes bounds a payload schema document.
const MaxSchemaBytes = 1 << 20

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

// compiledSchema is a schema document and its compiled form.
type compiledSchema struct {
	doc string
	sch *jsonschema.Schema
}

// schemaSet is an immutable snapshot of every tenant's compiled schemas.
type schemaSet struct {
	mark string
	m    map[schemaKey]*compiledSchema
}

// schemaCache holds the compiled payload schemas of every tenant, reloaded when the
// store's schema change mark moves. Its zero value is empty and ready.
type schemaCache struct {
	mu  sync.Mutex // serializes reloads
	set atomic.Pointer[schemaSet]
}

// CompileSchema checks a JSON Schema document (draft 2020-12 unless its $schema names
// another draft) and compiles it. The document must be a JSON object; it may not refer to
// other documents ($ref to an external URL or file is refused), and "format" is asserted.
func CompileSchema(doc json.RawMessage) (*jsonschema.Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("is not valid JSON: %w", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("must be a JSON object (a JSON Schema)")
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	c.AssertFormat()
	const loc = "herald:///schema.json"
	if err := c.AddResource(loc, v); err != nil {
		return nil, err
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, errors.New(strings.ReplaceAll(err.Error(), loc, "schema"))
	}
	return sch, nil
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
	if _, err := CompileSchema(buf.Bytes()); err != nil {
		return store.EventSchema{}, false, fieldErr("schema", "%v", err)
	}
	// Every replica holds every schema compiled: a tenant's count is capped. (Concurrent
	// first puts of different keys may pass the check together: the cap is approximate.)
	have, err := e.store.ListEventSchemas(ctx, tenantID)
	if err != nil {
		return store.EventSchema{}, false, err
	}
	if len(have) >= e.cfg.MaxEventSchemas && !slices.ContainsFunc(have, func(s store.EventSchema) bool { return s.Key == key }) {
		return store.EventSchema{}, false, fieldErr("key", "the tenant has %d payload schemas, the limit; delete one first", len(have))
	}
	at := now()
	saved, created, err := e.store.PutEventSchema(ctx, store.EventSchema{TenantID: tenantID, Key: key, Schema: buf.Bytes(), CreatedAt: at, UpdatedAt: at})
	if err != nil {
		return saved, false, err
	}
	if err := e.refreshSchemas(ctx); err != nil {
		// The schema is saved: the request succeeded. The sweep retries the reload.
		e.log.Warn("reloading payload schemas after a change", "key", key, "err", err)
	}
	return saved, created, nil
}

// GetEventSchema returns the schema registered for a key of the tenant.
func (e *Engine) GetEventSchema(ctx context.Context, tenantID, key string) (store.EventSchema, error) {
	return e.store.GetEventSchema(ctx, tenantID, key)
}

// ListEventSchemas lists the tenant's schemas by key.
func (e *Engine) ListEventSchemas(ctx context.Context, tenantID string) ([]store.EventSchema, error) {
	return e.store.ListEventSchemas(ctx, tenantID)
}

// DeleteEventSchema removes the schema of a key: its payloads are no longer checked.
func (e *Engine) DeleteEventSchema(ctx context.Context, tenantID, key string) error {
	if err := e.store.DeleteEventSchema(ctx, tenantID, key); err != nil {
		return err
	}
	if err := e.refreshSchemas(ctx); err != nil {
		e.log.Warn("reloading payload schemas after a change", "key", key, "err", err)
	}
	return nil
}

// refreshSchemas reloads the compiled schemas when the store's change mark moved (always
// the first time). Documents that did not change keep their compiled form. A stored
// schema that no longer compiles (a newer engine wrote it) is logged and not enforced.
func (e *Engine) refreshSchemas(ctx context.Context) error {
	c := &e.schemas
	c.mu.Lock()
	defer c.mu.Unlock()
	mark, err := e.store.EventSchemasChangeMark(ctx)
	if err != nil {
		return fmt.Errorf("reading event schema change mark: %w", err)
	}
	cur := c.set.Load()
	if cur != nil && cur.mark == mark {
		return nil
	}
	all, err := e.store.ListAllEventSchemas(ctx)
	if err != nil {
		return fmt.Errorf("loading event schemas: %w", err)
	}
	next := &schemaSet{mark: mark, m: make(map[schemaKey]*compiledSchema, len(all))}
	for _, s := range all {
		k := schemaKey{s.TenantID, s.Key}
		if cur != nil {
			if old := cur.m[k]; old != nil && old.doc == string(s.Schema) {
				next.m[k] = old
				continue
			}
		}
		sch, err := CompileSchema(s.Schema)
		if err != nil {
			e.log.Error("a stored event schema does not compile; it is not enforced", "tenant_id", s.TenantID, "key", s.Key, "err", err)
			continue
		}
		next.m[k] = &compiledSchema{doc: string(s.Schema), sch: sch}
	}
	c.set.Store(next)
	return nil
}

// schemaPrinter renders the schema library's messages.
var schemaPrinter = message.NewPrinter(language.English)

// checkPayload checks an event's payload against the JSON Schema registered for its key
// in the tenant, if any. A violation is a *SchemaError whose field is field followed by
// the JSON pointer of the failing value.
func (e *Engine) checkPayload(tenantID, field, key string, payload json.RawMessage) error {
	set := e.schemas.set.Load()
	if set == nil || len(set.m) == 0 {
		return nil
	}
	cs := set.m[schemaKey{tenantID, key}]
	if cs == nil {
		return nil
	}
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || bytes.Equal(payload, []byte("null")) {
		payload = json.RawMessage("{}")
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fieldErr(field, "is not valid JSON: %v", err)
	}
	err = cs.sch.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validating %s against the schema of %q: %w", field, key, err)
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
