-- Event keys are searched in byte order (COLLATE "C"), whatever the database's collation, so
-- that one index serves exact keys and key prefixes (a prefix is a range of it; with a
-- linguistic collation neither LIKE nor starts_with can use an index).
DROP INDEX events_tenant_key;
CREATE INDEX events_tenant_key ON events (tenant_id, (key COLLATE "C"), id);
