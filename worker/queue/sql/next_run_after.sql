-- When the next delayed pending run becomes runnable (NULL if none is waiting). Pending runs
-- are the unleased rows of run_queue (migration 0015), in ix_run_queue_pending.
SELECT min(run_after) - now() AS wait
FROM run_queue
WHERE lease_expires_at IS NULL
  AND run_after > now();
