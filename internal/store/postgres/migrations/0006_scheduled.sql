-- Delayed events and search (version 6). A push with deliver_at or delay is stored here
-- at once (with its idempotency key claimed) and moved into events, with the runs it
-- triggers, by the transaction that delivers it; that transaction deletes the row, so a
-- scheduled event is delivered once, whichever replica delivers it. Replicas claim due
-- rows with FOR UPDATE SKIP LOCKED. Cancelled and failed rows stay until retention.
CREATE TABLE scheduled_events (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL,
    key                TEXT NOT NULL,
    payload            JSONB NOT NULL,
    metadata           JSONB,
    source             TEXT NOT NULL,
    parent_run_id      TEXT,
    parent_step_run_id TEXT,
    parent_step        TEXT,
    scope              TEXT,
    idempotency_key    TEXT,
    deliver_at         TIMESTAMPTZ NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    -- scheduled, cancelled or failed.
    status             TEXT NOT NULL,
    error              TEXT NOT NULL DEFAULT '',
    ended_at           TIMESTAMPTZ,
    -- A replica that took the row for delivery; others skip it until then.
    claimed_until      TIMESTAMPTZ
);
CREATE INDEX scheduled_events_due ON scheduled_events (deliver_at) WHERE status = 'scheduled';
CREATE INDEX scheduled_events_tenant ON scheduled_events (tenant_id, status, id);
CREATE INDEX scheduled_events_ended ON scheduled_events (ended_at) WHERE status <> 'scheduled';

-- Metadata search: containment (metadata @> '{"name": value}') is answered by this index.
CREATE INDEX events_metadata ON events USING GIN (metadata jsonb_path_ops);
-- Events that started a run of a workflow, newest event first.
CREATE INDEX runs_tenant_workflow_event ON runs (tenant_id, workflow_name, event_id) WHERE event_id IS NOT NULL;
