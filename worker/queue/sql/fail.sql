-- End a run `failed` with error $4 (JSON {type, message, detail}), fenced on $2 worker and
-- $3 attempt. Logs an `error` event and a `failed` event. Returns the id when written.
WITH done AS (
    UPDATE runs
    SET status = 'failed',
        error = $4::jsonb,
        locked_by = NULL
    WHERE id = $1
      AND status = 'running'
      AND locked_by = $2
      AND attempts = $3
    RETURNING id, attempts
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
            ('failed', jsonb_build_object('attempt', d.attempts, 'worker_id', $2::text))
    ) AS e(event_type, payload)
)
SELECT id FROM done;
