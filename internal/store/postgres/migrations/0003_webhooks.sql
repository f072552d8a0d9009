-- Webhooks (version 3): endpoints for third-party senders, their delivery log, and the
-- webhook fields of events.
CREATE TABLE webhooks (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenants (id),
    name                 TEXT NOT NULL,
    source               TEXT NOT NULL,
    event_key_expression TEXT NOT NULL,
    scope_expression     TEXT NOT NULL DEFAULT '',
    dedupe_expression    TEXT NOT NULL DEFAULT '',
    static_payload       JSONB,
    -- auth holds the generic source's settings without the secret.
    auth                 JSONB NOT NULL,
    -- secret is AES-256-GCM ciphertext under the master key (see internal/secrets).
    secret               BYTEA NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, name)
);

-- One row per request to a webhook URL, accepted or refused; pruned to the newest rows of
-- each webhook by the engines' sweepers.
CREATE TABLE webhook_deliveries (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    webhook_id   TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    verification TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    status_code  INTEGER NOT NULL,
    error        TEXT NOT NULL DEFAULT '',
    event_id     TEXT,
    dedupe_id    TEXT,
    body_bytes   BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (tenant_id, webhook_id, id);

ALTER TABLE events ADD COLUMN scope TEXT;
ALTER TABLE events ADD COLUMN webhook TEXT;
ALTER TABLE events ADD COLUMN dedupe_id TEXT;
-- Invariant: a tenant's webhook accepts a delivery id once (replays answer the original).
CREATE UNIQUE INDEX events_webhook_dedupe ON events (tenant_id, webhook, dedupe_id) WHERE dedupe_id IS NOT NULL;
