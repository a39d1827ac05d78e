-- True when a burst worker may exit: nothing is running, and nothing pending is due within
-- $1 seconds (a run waiting out its retry backoff is still part of the batch; one scheduled
-- for much later is not).
SELECT NOT EXISTS (
    SELECT 1 FROM runs
    WHERE (status = 'pending'
           AND run_after <= now() + make_interval(secs => $1)
           AND NOT cancel_requested)
       OR status = 'running'
) AS idle;
