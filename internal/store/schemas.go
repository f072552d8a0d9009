package store

import (
	"context"
	"encoding/json"
	"time"
)

// EventSchema is the JSON Schema a tenant registered for one event key: pushes of that
// key must carry a payload that conforms to it.
type EventSchema struct {
	TenantID string
	// Key is an exact event key (never a pattern).
	Key string
	// Schema is the schema document as saved (compact JSON, key order kept).
	Schema    json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SchemaStore keeps the JSON Schema registered for each event key of a tenant.
type SchemaStore interface {
	// SchemaPut inserts the schema of (s.TenantID, s.Key), or replaces it, keeping
	// its CreatedAt, when the document differs. created reports an insert. A put that
	// changes something bumps SchemaChangeMark (and on a shared store tells the
	// other replicas, as a workflow change does); a put of the same document changes
	// nothing and returns the stored row.
	SchemaPut(ctx context.Context, s EventSchema) (saved EventSchema, created bool, err error)
	// SchemaGet returns the schema of a key; ErrNotFound if none.
	SchemaGet(ctx context.Context, tenantID, key string) (EventSchema, error)
	// SchemaList lists a tenant's schemas by key.
	SchemaList(ctx context.Context, tenantID string) ([]EventSchema, error)
	// SchemaDelete deletes the schema of a key (ErrNotFound if none) and bumps
	// SchemaChangeMark.
	SchemaDelete(ctx context.Context, tenantID, key string) error
	// SchemaListAll lists every tenant's schemas: the engine's schema cache.
	SchemaListAll(ctx context.Context) ([]EventSchema, error)
	// SchemaChangeMark returns a value that changes whenever any schema changes, so
	// a replica can tell cheaply that its schema cache is stale.
	SchemaChangeMark(ctx context.Context) (string, error)
}
