-- claim.sql over run_queue: candidates in the queue table's order, their `runs` rows locked
-- with SKIP LOCKED too (a session that updates a run first and its queue row second, as a
-- trigger would, is skipped, never waited for: no deadlock), the run updated without
-- touching an indexed column, the queue row given the lease.
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
    SELECT id
    FROM runs
    WHERE id = ANY (ARRAY(SELECT run_id FROM candidates))
      AND status = 'pending'
      AND NOT cancel_requested
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
    WHERE r.id = ANY (ARRAY(SELECT id FROM held))
    RETURNING r.id, r.dataset_id, r.strategy_id, r.mode::text AS mode, r.initial_capital,
              r.config::text AS config_text, r.attempts, r.max_attempts, r.priority,
              r.lease_expires_at, extract(epoch FROM now() - r.created_at)::float8 AS waited
),
leased AS (
    UPDATE run_queue AS q
    SET lease_expires_at = c.lease_expires_at
    FROM claimed AS c
    WHERE q.run_id = c.id
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
