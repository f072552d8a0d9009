package store

// SchemaStore keeps the JSON Schema registered for each event key of a tenant.
type SchemaStore interface{}
