-- Dashboard and observability (version 3): replay lineage, dashboard sessions, and the
-- indexes behind time-windowed statistics.
ALTER TABLE events ADD COLUMN replay_of TEXT;
-- Covering the statistics (events by source; runs by workflow and status, with their start
-- and end times), so that aggregating a window reads only the index.
CREATE INDEX events_tenant_created ON events (tenant_id, created_at, source);
CREATE INDEX runs_tenant_created ON runs (tenant_id, created_at, workflow_name, status, started_at, finished_at);

-- A signed-in dashboard session: only the SHA-256 of its random id is stored.
CREATE TABLE dashboard_sessions (
    hash       BLOB PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    token_id   TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires_at);
