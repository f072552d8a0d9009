-- Payload schemas (version 8): one JSON Schema per (tenant, exact event key).
CREATE TABLE event_schemas (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    key        TEXT NOT NULL,
    -- schema is the document as saved: TEXT, not JSONB, so that it reads back as written
    -- (key order kept) and a put of the same document is recognized by comparing text.
    schema     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

-- mark is bumped on every schema change so replicas can detect a stale schema cache
-- (and NOTIFY herald_workflows wakes them at once).
CREATE TABLE event_schema_changes (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    mark BIGINT NOT NULL
);
INSERT INTO event_schema_changes (id, mark) VALUES (1, 0);
