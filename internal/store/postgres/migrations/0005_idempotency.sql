-- Idempotency keys (version 5): a push with an idempotency key claims it here in its ingest
-- transaction; the primary key makes a second claim of a live key fail (concurrent claims
-- wait for each other), and an expired key is taken over by the next claim.
CREATE TABLE idempotency_keys (
    tenant_id  TEXT NOT NULL,
    key        TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
