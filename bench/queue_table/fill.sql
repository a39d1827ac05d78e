-- What an insert trigger would do for the seeded pending runs.
INSERT INTO run_queue (run_id, priority, run_after, created_at)
SELECT id, priority, run_after, created_at FROM runs WHERE status = 'pending';
