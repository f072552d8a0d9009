-- Runtime trigger filters (version 7): a workflow with filters is triggered by an event only
-- when a filter has the event's scope and its expression is true (docs/triggers.md).
CREATE TABLE workflow_filters (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    workflow_id TEXT NOT NULL REFERENCES workflows (id),
    scope       TEXT NOT NULL,
    expression  TEXT NOT NULL,
    payload     JSONB,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX workflow_filters_workflow ON workflow_filters (tenant_id, workflow_id, id);
CREATE INDEX workflow_filters_scope ON workflow_filters (tenant_id, workflow_id, scope, id);
