-- Retry a failed or cancelled run with $2 more attempts (migration 0008; a sweep's children
-- too, migration 0012); no row when the run is missing or not failed/cancelled; SQLSTATE 55000
-- for a sweep's child, or a sweep whose children are still stopping.
SELECT id, status::text AS status, attempts, max_attempts FROM retry_run($1, $2);
