-- The workers holding leases now, with how many runs each holds and its freshest lease.
SELECT locked_by AS worker_id,
       count(*) AS runs,
       min(started_at) AS oldest_started_at,
       max(lease_expires_at) AS lease_expires_at,
       bool_or(lease_expires_at < now()) AS has_expired_lease,
       now() AS db_now
FROM runs
WHERE status = 'running'
GROUP BY locked_by
ORDER BY locked_by;
