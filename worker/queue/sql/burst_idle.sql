-- True when a burst worker may exit: nothing is running, and nothing pending is due within
-- $1 seconds (a run waiting out its retry backoff is still part of the batch; one scheduled
-- for much later is not). Pending and running runs are the rows of run_queue (migration
-- 0015); a leased row counts only while its run is running (a row left by a run that ended
-- elsewhere waits for the reaper).
SELECT NOT EXISTS (
    SELECT 1 FROM run_queue
    WHERE lease_expires_at IS NULL
      AND run_after <= now() + make_interval(secs => $1)
) AND NOT EXISTS (
    SELECT 1 FROM run_queue AS q
    JOIN runs AS r ON r.id = q.run_id
    WHERE q.lease_expires_at IS NOT NULL
      AND r.status = 'running'
) AS idle;
