-- Record a running run's progress ($4 JSON) for pollers and NOTIFY run_progress with it.
-- Fenced on $2 worker and $3 attempt.
WITH updated AS (
    UPDATE runs
    SET progress = $4::jsonb
    WHERE id = $1
      AND status = 'running'
      AND locked_by = $2
      AND attempts = $3
    RETURNING id
)
SELECT pg_notify('run_progress', ($4::jsonb)::text) FROM updated;
