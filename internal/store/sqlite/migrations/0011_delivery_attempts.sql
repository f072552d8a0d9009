-- Delivery attempts (version 11). Each claim of a delayed event for delivery counts one
-- attempt, in the statement that claims it; a delivered event leaves the table, so a
-- count above one means earlier deliveries did not complete (the process may have died
-- delivering it). The engine delivers such events one at a time and marks one failed
-- once it has been claimed too often, instead of delivering it again after every restart.
ALTER TABLE scheduled_events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
