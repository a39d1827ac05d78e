-- End runs `failed`, each with its error (JSON {type, message, detail}), fenced per row on
-- ($1 worker, attempt). Logs an `error` and a `failed` event per run. Returns the ids written.
-- $2 ids, $3 attempts, $4 errors (jsonb text), arrays of the same length.
-- Rows are locked in id order first, as in heartbeat.sql (no deadlock with the heartbeat).
WITH results AS MATERIALIZED (
    SELECT * FROM unnest($2::uuid[], $3::int[], $4::text[]) AS t(id, attempt, error)
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
    SET status = 'failed',
        error = x.error::jsonb,
        locked_by = NULL,
        finished_at = now(),
        lease_expires_at = NULL,
        -- A finished run's progress says so; the bar stays where the run stopped.
        progress = jsonb_build_object(
            'run_id', r.id, 'stage', 'failed', 'pct', r.progress -> 'pct')
    FROM results AS x
    WHERE r.id = x.id
      AND r.id = ANY (ARRAY(SELECT id FROM locked))
      AND r.locked_by = $1
      AND r.attempts = x.attempt
    RETURNING r.id, r.attempts, x.error::jsonb AS error
),
logged AS (
    INSERT INTO events (run_id, event_type, payload)
    SELECT d.id, e.event_type, e.payload
    FROM done AS d
    CROSS JOIN LATERAL (
        VALUES
            ('error', jsonb_build_object(
                'attempt', d.attempts, 'worker_id', $1::text,
                'type', d.error -> 'type', 'message', d.error -> 'message')),
            ('failed', jsonb_build_object('attempt', d.attempts, 'worker_id', $1::text))
    ) AS e(event_type, payload)
)
SELECT id FROM done;
