-- Runs by status, and the age of the oldest pending run (database clock).
SELECT s.status::text AS status,
       count(r.id) AS runs,
       max(now() - r.created_at) FILTER (WHERE r.status = 'pending') AS oldest_pending_age,
       count(r.id) FILTER (WHERE r.status = 'pending' AND r.run_after <= now()) AS runnable
FROM unnest(enum_range(NULL::run_status)) AS s(status)
LEFT JOIN runs AS r ON r.status = s.status
GROUP BY s.status
ORDER BY s.status;
