-- Shutdown: give unfinished runs back to pending, runnable at once. The attempt given back
-- does not count against max_attempts. Fenced per row on ($1 worker, attempt).
-- Rows are locked in id order first, as in heartbeat.sql (no deadlock with the heartbeat).
WITH held AS MATERIALIZED (
    SELECT * FROM unnest($2::uuid[], $3::int[]) AS t(id, attempt)
),
locked AS MATERIALIZED (
    SELECT r.id
    FROM (SELECT id, attempt FROM held ORDER BY id) AS h
    CROSS JOIN LATERAL (
        SELECT id
        FROM runs
        WHERE id = h.id
          AND status = 'running'
          AND locked_by = $1
          AND attempts = h.attempt
        FOR NO KEY UPDATE
    ) AS r
),
done AS (
    UPDATE runs AS r
    SET status = 'pending',
        locked_by = NULL,
        attempts = r.attempts - 1,
        run_after = now(),
        started_at = NULL,
        progress = NULL
    FROM held AS h
    WHERE r.id = h.id
      AND r.id = ANY (ARRAY(SELECT id FROM locked))
      AND r.locked_by = $1
      AND r.attempts = h.attempt
    RETURNING r.id, h.attempt
),
logged AS (
    INSERT INTO events (run_id, event_type, payload)
    SELECT id, 'handed_back', jsonb_build_object('attempt', attempt, 'worker_id', $1::text)
    FROM done
)
SELECT id FROM done;
