-- End runs `failed`, each with its error (JSON {type, message, detail}), fenced per row on
-- ($1 worker, attempt). Logs an `error` and a `failed` event per run. Returns the ids written.
-- $2 ids, $3 attempts, $4 errors (jsonb text), arrays of the same length.
-- Rows are locked by lock_held_runs, as in complete_batch.sql (values taken by position n).
WITH locked AS MATERIALIZED (
    SELECT id, n FROM lock_held_runs($1::text, $2::uuid[], $3::int[])
),
done AS (
    UPDATE runs AS r
    SET status = 'failed',
        error = ($4::text[])[x.n]::jsonb,
        locked_by = NULL,
        finished_at = now(),
        lease_expires_at = NULL,
        -- A finished run's progress says so; the bar stays where the run stopped.
        progress = jsonb_build_object(
            'run_id', r.id, 'stage', 'failed', 'pct', r.progress -> 'pct')
    FROM locked AS x
    WHERE r.id = ANY (ARRAY(SELECT id FROM locked))
      AND r.id = x.id
      AND r.locked_by = $1
    RETURNING r.id, r.attempts, r.error
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
),
dequeued AS (  -- a finished run leaves the queue (migration 0015)
    DELETE FROM run_queue WHERE run_id = ANY (ARRAY(SELECT id FROM done))
)
SELECT id FROM done;
