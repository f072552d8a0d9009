-- Payload schemas (version 7): one JSON Schema per (tenant, exact event key).
CREATE TABLE event_schemas (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    key        TEXT NOT NULL,
    -- schema is the document as saved (compact JSON text).
    schema     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

-- mark is bumped on every schema change so engines can detect a stale schema cache.
CREATE TABLE event_schema_changes (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    mark INTEGER NOT NULL
);
INSERT INTO event_schema_changes (id, mark) VALUES (1, 0);
