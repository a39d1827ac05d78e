-- Shutdown: give unfinished runs back to pending, runnable at once. The attempt given back
-- does not count against max_attempts. Fenced per row on ($1 worker, attempt).
WITH held AS (
    SELECT * FROM unnest($2::uuid[], $3::int[]) AS t(id, attempt)
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
      AND r.id = ANY ($2::uuid[])
      AND r.status = 'running'
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
