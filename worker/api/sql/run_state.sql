-- What a live stream starts from: the stored progress and, for a finished run, the same
-- payload run_completed carried (one definition: run_completed_payload, migration 0005).
SELECT r.status::text AS status,
       r.progress,
       CASE WHEN r.status IN ('succeeded', 'failed', 'cancelled')
            THEN run_completed_payload(r) END AS completed
FROM runs r
WHERE r.id = $1;
