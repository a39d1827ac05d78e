-- Retry a failed or cancelled run with $2 more attempts (the function's rules are in
-- migration 0008); no row when the run is missing or not failed/cancelled.
SELECT id, status::text AS status, attempts, max_attempts FROM retry_run($1, $2);
