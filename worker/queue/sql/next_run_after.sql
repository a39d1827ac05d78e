-- When the next delayed pending run becomes runnable (NULL if none is waiting).
SELECT min(run_after) - now() AS wait
FROM runs
WHERE status = 'pending'
  AND run_after > now()
  AND NOT cancel_requested;
