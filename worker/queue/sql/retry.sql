-- Hand a run back to pending after a transient error $4, to run again after $5 seconds
-- (database clock). Fenced on $2 worker and $3 attempt; the attempt stays counted.
WITH done AS (
    UPDATE runs
    SET status = 'pending',
        error = $4::jsonb,
        locked_by = NULL,
        run_after = now() + make_interval(secs => $5)
    WHERE id = $1
      AND status = 'running'
      AND locked_by = $2
      AND attempts = $3
    RETURNING id, attempts, run_after
),
logged AS (
    INSERT INTO events (run_id, event_type, payload)
    SELECT d.id, e.event_type, e.payload
    FROM done AS d
    CROSS JOIN LATERAL (
        VALUES
            ('error', jsonb_build_object(
                'attempt', d.attempts, 'worker_id', $2::text,
                'type', $4::jsonb -> 'type', 'message', $4::jsonb -> 'message')),
            ('retried', jsonb_build_object(
                'attempt', d.attempts, 'worker_id', $2::text, 'run_after', d.run_after))
    ) AS e(event_type, payload)
)
SELECT id FROM done;
