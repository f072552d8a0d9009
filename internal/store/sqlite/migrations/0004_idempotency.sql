-- Idempotency keys (version 4): a push with an idempotency key claims it here in its ingest
-- transaction; the primary key makes a second claim of a live key fail, and an expired key
-- (expires_at, Unix milliseconds) is taken over by the next claim.
CREATE TABLE idempotency_keys (
    tenant_id  TEXT NOT NULL,
    key        TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
