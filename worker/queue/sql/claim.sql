-- Claim up to $2 runnable runs for worker $1, with a lease of $3 seconds (database clock).
-- Highest priority first, then oldest; a locked row is skipped, never waited for. The
-- attempt counts at claim time, so a run whose worker dies still uses up an attempt.
-- `config` comes back as text, decoded per run by the worker, and only when it is at most $4
-- bytes (else NULL, with its size): a row the worker cannot decode fails alone, after the
-- claim, instead of failing the statement and losing the batch. While the fleet is paused
-- (queue_state.paused) nothing is claimed: one row read once per statement (an InitPlan).
-- `waited` is how long each run waited since its creation, for the queue-wait histogram.
--
-- The order and the lease are those of run_queue (migration 0015): no index of `runs` names
-- a column written here, so the update of `runs` is HOT when its page has room. Both rows of
-- a run are locked with SKIP LOCKED, the queue row first: a session that changes a run (a
-- cancel, whose trigger then deletes the queue row) holds the `runs` row first, and the claim
-- skips it instead of waiting for it while holding the queue row (a deadlock).
WITH candidates AS (
    SELECT run_id
    FROM run_queue
    WHERE lease_expires_at IS NULL
      AND run_after <= now()
      AND NOT EXISTS (SELECT 1 FROM queue_state WHERE paused)
    ORDER BY priority DESC, run_after, created_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
),
held AS (
    SELECT id, status, cancel_requested
    FROM runs
    -- = ANY(array), not a join: the primary key is used even when the table's statistics
    -- are stale (a burst of inserts into an empty queue), instead of a scan of all runs.
    -- Not when the session's cached plan was made while `runs` held a page or two (a fresh
    -- database): that plan scans the table until an ANALYZE of it re-plans (auto_explain,
    -- 2026-12-08: 273 buffers a claim in a burst of 1,000 runs).
    WHERE id = ANY (ARRAY(SELECT run_id FROM candidates))
    FOR UPDATE SKIP LOCKED
),
claimed AS (
    UPDATE runs AS r
    SET status = 'running',
        locked_by = $1,
        started_at = now(),
        attempts = r.attempts + 1,
        lease_expires_at = now() + make_interval(secs => $3),
        progress = NULL
    WHERE r.id = ANY (ARRAY(SELECT id FROM held WHERE status = 'pending' AND NOT cancel_requested))
    RETURNING r.id, r.dataset_id, r.strategy_id, r.mode::text AS mode, r.initial_capital,
              r.config::text AS config_text, r.attempts, r.max_attempts, r.priority,
              extract(epoch FROM now() - r.created_at)::float8 AS waited
),
-- The claimed runs' queue rows get the lease; so does the unleased row of a run that another
-- writer took out of pending without this statement (SQL playing a worker, as the Node
-- client's test double does): it is never a candidate again, and the reaper reads the run's
-- own lease, and deletes the row once the run is no longer running.
leased AS (
    UPDATE run_queue
    SET lease_expires_at = now() + make_interval(secs => $3)
    WHERE run_id = ANY (ARRAY(SELECT id FROM claimed
                              UNION ALL
                              SELECT id FROM held WHERE status <> 'pending'))
),
logged AS (
    INSERT INTO events (run_id, event_type, payload)
    SELECT id, 'claimed', jsonb_build_object('attempt', attempts, 'worker_id', $1::text)
    FROM claimed
)
SELECT id, dataset_id, strategy_id, mode, initial_capital, attempts, max_attempts,
       CASE WHEN octet_length(config_text) <= $4 THEN config_text END AS config,
       octet_length(config_text) AS config_bytes, waited
FROM claimed
ORDER BY priority DESC;
