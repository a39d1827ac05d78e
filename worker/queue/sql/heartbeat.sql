-- One beat of worker $1: its `workers` row (upserted, so a row expired while the process was
-- suspended comes back) and the lease of every run it holds, extended by $4 seconds, in one
-- statement. Returns the runs still held, with their cancel flag; a run missing from the
-- result has been taken from this worker (its lease expired and it was reaped). A sweep's
-- child whose parent has ended (cancelled, or failed by another child) counts as cancelled:
-- the parent's cascade skips children locked at that moment (migration 0010), and this is
-- where those stop.
--
-- Rows are locked first by lock_held_runs (migration 0013): one primary-key lookup each, in
-- id order, so a completion batch of the same worker, which locks overlapping rows in the
-- same order, cannot hold a row this statement waits for (a deadlock). Lookups by key also
-- keep the plan independent of the table's statistics. The fence (status, worker, attempt)
-- is checked as each row is locked, on its newest version; the rows stay locked until
-- commit, so the UPDATE needs only their ids. The new lease is copied to the run's queue row,
-- where the reaper reads it, by the trigger runs_queue_sync (migration 0015); no index of
-- `runs` names the lease, so the update itself is HOT.
WITH beat AS (
    INSERT INTO workers (id, hostname, pid, version, concurrency, state)
    SELECT $1, $5::text, $6::int, $7::text, $8::int, $9::text
    WHERE $5::text IS NOT NULL  -- NULL: lease renewal only (tests, tools)
    ON CONFLICT (id) DO UPDATE SET last_beat = now(), state = EXCLUDED.state
),
locked AS MATERIALIZED (
    SELECT id FROM lock_held_runs($1::text, $2::uuid[], $3::int[])
)
UPDATE runs AS r
SET lease_expires_at = now() + make_interval(secs => $4)
WHERE r.id = ANY (ARRAY(SELECT id FROM locked))
  AND r.locked_by = $1
RETURNING r.id,
          r.cancel_requested OR (
              r.parent_id IS NOT NULL
              AND EXISTS (
                  SELECT 1 FROM runs AS p
                  WHERE p.id = r.parent_id AND p.status IN ('failed', 'cancelled'))
          ) AS cancel_requested;
