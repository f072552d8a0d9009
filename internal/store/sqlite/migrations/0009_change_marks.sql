-- Incremental trigger index (version 9): each workflow carries the change mark
-- (workflow_changes.mark) of the last change to it or to its filters, so that the engine
-- reads only the workflows changed after its index's mark, not all of them. Rows from
-- before this version keep 0: the engine starts with a full read.
ALTER TABLE workflows ADD COLUMN change_mark INTEGER NOT NULL DEFAULT 0;
CREATE INDEX workflows_change_mark ON workflows (change_mark);
