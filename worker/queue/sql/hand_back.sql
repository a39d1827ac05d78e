-- Shutdown: give unfinished runs back to pending, runnable at once. The attempt given back
-- does not count against max_attempts. Fenced per row on ($1 worker, attempt).
-- Rows are locked by lock_held_runs, as in complete_batch.sql.
WITH locked AS MATERIALIZED (
    SELECT id FROM lock_held_runs($1::text, $2::uuid[], $3::int[])
),
done AS (
    UPDATE runs AS r
    SET status = 'pending',
        locked_by = NULL,
        attempts = r.attempts - 1,
        run_after = now(),
        started_at = NULL,
        progress = NULL
    WHERE r.id = ANY (ARRAY(SELECT id FROM locked))
      AND r.locked_by = $1
    RETURNING r.id, r.attempts + 1 AS attempt  -- the attempt given back
),
logged AS (
    INSERT INTO events (run_id, event_type, payload)
    SELECT id, 'handed_back', jsonb_build_object('attempt', attempt, 'worker_id', $1::text)
    FROM done
)
SELECT id FROM done;
