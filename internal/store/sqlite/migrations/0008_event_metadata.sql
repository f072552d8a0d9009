-- Metadata search (version 8): every string, number or boolean of an event's
-- additional_metadata as a row, so that a filter NAME=VALUE is a range of an index instead
-- of a scan of the tenant's events. value is a string as is, a number or boolean by its
-- JSON text ("42", "1.5", "true"), as filters compare them. Names with '"' or '\' cannot
-- be filtered on and are left out.
CREATE TABLE event_metadata (
    tenant_id TEXT NOT NULL,
    name      TEXT NOT NULL,
    value     TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name, value, event_id)
) WITHOUT ROWID;
-- Pruning deletes an event's rows by its id.
CREATE INDEX event_metadata_event ON event_metadata (event_id);

INSERT OR IGNORE INTO event_metadata (tenant_id, name, value, event_id)
SELECT e.tenant_id, j.key,
       CASE j.type WHEN 'text' THEN j.value WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'
            ELSE e.metadata -> ('$."' || j.key || '"') END,
       e.id
FROM events e, json_each(e.metadata) j
WHERE e.metadata IS NOT NULL AND json_type(e.metadata) = 'object'
  AND j.type IN ('text', 'integer', 'real', 'true', 'false')
  AND instr(j.key, '"') = 0 AND instr(j.key, '\') = 0;
