-- Incremental trigger index (version 13): each workflow carries the change mark
-- (workflow_changes.mark) of the last change to it or to its filters, so that an engine
-- whose index is at a mark reads only the workflows changed after it, not all of them.
-- Rows from before this version keep 0: an engine starts with a full read.
ALTER TABLE workflows ADD COLUMN change_mark BIGINT NOT NULL DEFAULT 0;
CREATE INDEX workflows_change_mark ON workflows (change_mark);
