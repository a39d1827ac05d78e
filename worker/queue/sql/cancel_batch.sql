-- End running runs `cancelled` (their cancel_requested was seen, or the handler stopped),
-- fenced per row on ($1 worker, attempt). $2 ids, $3 attempts. Returns the ids written.
-- Rows are locked by lock_held_runs, as in complete_batch.sql.
WITH locked AS MATERIALIZED (
    SELECT id FROM lock_held_runs($1::text, $2::uuid[], $3::int[])
),
done AS (
    UPDATE runs AS r
    SET status = 'cancelled',
        locked_by = NULL,
        finished_at = now(),
        lease_expires_at = NULL,
        progress = jsonb_build_object(
            'run_id', r.id, 'stage', 'cancelled', 'pct', r.progress -> 'pct')
    WHERE r.id = ANY (ARRAY(SELECT id FROM locked))
      AND r.locked_by = $1
    RETURNING r.id, r.attempts
),
logged AS (
    INSERT INTO events (run_id, event_type, payload)
    SELECT id, 'cancelled', jsonb_build_object('attempt', attempts, 'worker_id', $1::text)
    FROM done
),
dequeued AS (  -- a finished run leaves the queue (migration 0015)
    DELETE FROM run_queue WHERE run_id = ANY (ARRAY(SELECT id FROM done))
)
SELECT id FROM done;
