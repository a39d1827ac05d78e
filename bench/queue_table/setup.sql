-- The queue-table design priced by bench.queue_cost (not a migration): the claim's ordering
-- index and the lease index move off `runs` into a narrow `run_queue` table (one row per
-- pending or running run), so that no column the claim changes is indexed on `runs` and its
-- update can be HOT. ix_runs_status goes too: it indexes the column every transition changes.
DROP INDEX ix_runs_status, ix_runs_pending, ix_runs_running_lease;
CREATE TABLE run_queue (
    run_id uuid PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    priority smallint NOT NULL,
    run_after timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    lease_expires_at timestamptz  -- NULL while pending
);
CREATE INDEX ix_run_queue_pending ON run_queue (priority DESC, run_after, created_at)
    WHERE lease_expires_at IS NULL;
CREATE INDEX ix_run_queue_lease ON run_queue (lease_expires_at)
    WHERE lease_expires_at IS NOT NULL;
