-- End a running run `cancelled` (its cancel_requested was seen), fenced on $2 worker and
-- $3 attempt.
WITH done AS (
    UPDATE runs
    SET status = 'cancelled',
        locked_by = NULL
    WHERE id = $1
      AND status = 'running'
      AND locked_by = $2
      AND attempts = $3
    RETURNING id, attempts
),
logged AS (
    INSERT INTO events (run_id, event_type, payload)
    SELECT id, 'cancelled', jsonb_build_object('attempt', attempts, 'worker_id', $2::text)
    FROM done
)
SELECT id FROM done;
