-- The workers holding leases now, with how many runs each holds and its freshest lease.
-- Running runs are found through the leased rows of run_queue (migration 0015).
SELECT r.locked_by AS worker_id,
       count(*) AS runs,
       min(r.started_at) AS oldest_started_at,
       max(r.lease_expires_at) AS lease_expires_at,
       bool_or(r.lease_expires_at < now()) AS has_expired_lease,
       now() AS db_now
FROM run_queue AS q
JOIN runs AS r ON r.id = q.run_id
WHERE q.lease_expires_at IS NOT NULL
  AND r.status = 'running'
GROUP BY r.locked_by
ORDER BY r.locked_by;
