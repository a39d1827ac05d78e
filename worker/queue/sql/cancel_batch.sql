-- End running runs `cancelled` (their cancel_requested was seen, or the handler stopped),
-- fenced per row on ($1 worker, attempt). $2 ids, $3 attempts. Returns the ids written.
-- Rows are locked in id order first, as in heartbeat.sql (no deadlock with the heartbeat).
WITH results AS MATERIALIZED (
    SELECT * FROM unnest($2::uuid[], $3::int[]) AS t(id, attempt)
),
locked AS MATERIALIZED (
    SELECT r.id
    FROM (SELECT id, attempt FROM results ORDER BY id) AS x
    CROSS JOIN LATERAL (
        SELECT id
        FROM runs
        WHERE id = x.id
          AND status = 'running'
          AND locked_by = $1
          AND attempts = x.attempt
        FOR NO KEY UPDATE
    ) AS r
),
done AS (
    UPDATE runs AS r
    SET status = 'cancelled',
        locked_by = NULL,
        finished_at = now(),
        lease_expires_at = NULL,
        progress = jsonb_build_object(
            'run_id', r.id, 'stage', 'cancelled', 'pct', r.progress -> 'pct')
    FROM results AS x
    WHERE r.id = x.id
      AND r.id = ANY (ARRAY(SELECT id FROM locked))
      AND r.locked_by = $1
      AND r.attempts = x.attempt
    RETURNING r.id, r.attempts
),
logged AS (
    INSERT INTO events (run_id, event_type, payload)
    SELECT id, 'cancelled', jsonb_build_object('attempt', attempts, 'worker_id', $1::text)
    FROM done
)
SELECT id FROM done;
