-- The transactional outbox: applications insert events here inside their own
-- transactions (package heraldpg); engine replicas move them into events, with the runs
-- they trigger, in one transaction each. The row id becomes the event id.
CREATE TABLE herald_outbox (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    key        TEXT NOT NULL,
    payload    JSONB NOT NULL DEFAULT '{}',
    metadata   JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- error is set when the engine refused the row (unknown tenant, invalid event); such
    -- rows stay for inspection and are not retried.
    error      TEXT
);
CREATE INDEX herald_outbox_pending ON herald_outbox (created_at, id) WHERE error IS NULL;

CREATE FUNCTION herald_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald_outbox', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER herald_outbox_notify AFTER INSERT ON herald_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION herald_outbox_notify();
