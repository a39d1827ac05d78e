-- Runs finished in the last minute, 15 minutes and hour, by final status (database clock).
-- Reads only the last hour's rows, through ix_runs_finished_at.
SELECT status::text AS status,
       count(*) FILTER (WHERE finished_at >= now() - interval '1 minute') AS last_1m,
       count(*) FILTER (WHERE finished_at >= now() - interval '15 minutes') AS last_15m,
       count(*) AS last_1h
FROM runs
WHERE finished_at >= now() - interval '1 hour'
  AND status IN ('succeeded', 'failed', 'cancelled')
GROUP BY status
ORDER BY status;
