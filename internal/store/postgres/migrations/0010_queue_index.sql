-- The ready queue is a partial index of step_runs (version 10) instead of a table of its
-- own: a queued step-run is claimable from available_at on, and leaves the queue when its
-- status changes, in the same row write. Ingest writes one row per step instead of two.
ALTER TABLE step_runs ADD COLUMN available_at TIMESTAMPTZ;
UPDATE step_runs s SET available_at = q.available_at FROM step_queue q WHERE q.step_run_id = s.id;
UPDATE step_runs SET available_at = COALESCE(queued_at, now()) WHERE status = 'queued' AND available_at IS NULL;
-- Claims: a tenant's queues in availability order.
CREATE INDEX step_runs_ready ON step_runs (tenant_id, workflow_name, available_at, id) WHERE status = 'queued';
-- The sweeper's wake-ups for queues whose steps became available in a time window.
CREATE INDEX step_runs_available ON step_runs (available_at) WHERE status = 'queued';
DROP TABLE step_queue;
