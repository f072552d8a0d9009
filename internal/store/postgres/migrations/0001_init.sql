-- Herald schema, version 1 (PostgreSQL).
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    hash       BYTEA NOT NULL UNIQUE,
    admin      BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id, created_at);

CREATE TABLE workflows (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    name            TEXT NOT NULL,
    active          BOOLEAN NOT NULL,
    current_version INTEGER NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE workflow_versions (
    workflow_id TEXT NOT NULL REFERENCES workflows (id),
    version     INTEGER NOT NULL,
    tenant_id   TEXT NOT NULL,
    definition  TEXT NOT NULL,
    hash        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

CREATE TABLE workflow_changes (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    mark BIGINT NOT NULL
);
INSERT INTO workflow_changes (id, mark) VALUES (1, 0);

CREATE TABLE events (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL,
    key                TEXT NOT NULL,
    payload            JSONB NOT NULL,
    metadata           JSONB,
    source             TEXT NOT NULL,
    parent_run_id      TEXT,
    parent_step_run_id TEXT,
    parent_step        TEXT,
    triggers           JSONB NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_tenant ON events (tenant_id, id);
CREATE INDEX events_tenant_key ON events (tenant_id, key, id);

CREATE TABLE runs (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    workflow_id   TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    version       INTEGER NOT NULL,
    event_id      TEXT,
    status        TEXT NOT NULL,
    input         JSONB NOT NULL,
    error         TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ
);
-- Invariant: one run per (event, workflow).
CREATE UNIQUE INDEX runs_event_workflow ON runs (event_id, workflow_id) WHERE event_id IS NOT NULL;
CREATE INDEX runs_tenant ON runs (tenant_id, id);
CREATE INDEX runs_tenant_workflow ON runs (tenant_id, workflow_name, id);
CREATE INDEX runs_tenant_status ON runs (tenant_id, status, id);

CREATE TABLE step_runs (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL,
    run_id           TEXT NOT NULL,
    workflow_name    TEXT NOT NULL,
    step             TEXT NOT NULL,
    position         INTEGER NOT NULL,
    parents          JSONB NOT NULL,
    pending_parents  INTEGER NOT NULL,
    status           TEXT NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    timeout_ms       BIGINT NOT NULL,
    retry            JSONB NOT NULL,
    lease_id         TEXT,
    worker_id        TEXT,
    lease_expires_at TIMESTAMPTZ,
    deadline_at      TIMESTAMPTZ,
    output           JSONB,
    error            TEXT NOT NULL DEFAULT '',
    lease_losses     INTEGER NOT NULL DEFAULT 0,
    queued_at        TIMESTAMPTZ,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    UNIQUE (run_id, step)
);
CREATE INDEX step_runs_lease ON step_runs (lease_expires_at) WHERE status = 'running';

CREATE TABLE step_queue (
    step_run_id   TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    available_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX step_queue_ready ON step_queue (tenant_id, workflow_name, available_at);
CREATE INDEX step_queue_available ON step_queue (available_at);

CREATE TABLE workers (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    name              TEXT NOT NULL,
    workflows         JSONB NOT NULL,
    slots             INTEGER NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    last_heartbeat_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX workers_tenant ON workers (tenant_id, id);
