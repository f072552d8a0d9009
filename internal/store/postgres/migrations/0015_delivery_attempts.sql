-- Delivery attempts (version 15). Each claim of a delayed event for delivery, or of an
-- outbox entry for relay, counts one attempt, in the statement that claims it; a
-- delivered item leaves its table, so a count above one means earlier deliveries did not
-- complete (the process may have died delivering it). The engine delivers such items one
-- at a time and gives up on one once it has been claimed too often (a delayed event
-- becomes failed, an outbox entry gets its error), instead of delivering it again after
-- every restart. Outbox entries are now claimed like delayed events (claimed_until), so
-- replicas split them instead of reading the same ones.
ALTER TABLE scheduled_events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE herald_outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN claimed_until TIMESTAMPTZ;
