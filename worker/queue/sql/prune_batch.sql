-- Delete up to $2 finished runs created more than $1 seconds ago, oldest first (events and
-- artifact rows go with them: ON DELETE CASCADE); returns their ids, whose files the caller
-- deletes after the commit. Rows another session holds are left for the next batch.
WITH doomed AS (
    SELECT id
    FROM runs
    WHERE status IN ('succeeded', 'failed', 'cancelled')
      AND created_at < now() - make_interval(secs => $1)
    ORDER BY created_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
DELETE FROM runs
WHERE id = ANY (ARRAY(SELECT id FROM doomed))
RETURNING id;
