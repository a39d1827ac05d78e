-- True when nothing is runnable now and nothing is running: a burst worker may exit.
SELECT NOT EXISTS (
    SELECT 1 FROM runs
    WHERE (status = 'pending' AND run_after <= now() AND NOT cancel_requested)
       OR status = 'running'
) AS idle;
