-- Runs whose lease expired (their worker died or hung): back to pending, or `failed` once
-- attempts reach max_attempts. A run asked to stop (cancel_requested) ends `cancelled`
-- instead: no claim takes a pending run with the flag, so handed back it would never end.
-- The status triggers send `run_completed` for either final state, as for any other.
-- Rows another session is updating are skipped.
--
-- Expired leases are found in run_queue (migration 0015), the queue row and then the run
-- locked with SKIP LOCKED (the claim's order: this statement never waits). A run sent back
-- to pending gets its queue row back unleased from the trigger runs_queue_sync; the queue
-- rows of runs ended here are deleted, and so is an expired queue row whose run is no longer
-- running (ended by a writer that left the row: it is never claimed, and goes here).
WITH lapsed AS (
    SELECT run_id
    FROM run_queue
    WHERE lease_expires_at < now()
    FOR UPDATE SKIP LOCKED
),
expired AS (
    SELECT id, locked_by AS lost_by
    FROM runs
    WHERE id = ANY (ARRAY(SELECT run_id FROM lapsed))
      AND status = 'running'
      AND lease_expires_at < now()
    FOR UPDATE SKIP LOCKED
),
reaped AS (
    UPDATE runs AS r
    SET status = CASE WHEN r.cancel_requested THEN 'cancelled'::run_status
                      WHEN r.attempts >= r.max_attempts THEN 'failed'::run_status
                      ELSE 'pending'::run_status END,
        error = CASE WHEN r.cancel_requested THEN r.error ELSE jsonb_build_object(
            'type', CASE WHEN r.attempts >= r.max_attempts
                         THEN 'attempts_exhausted' ELSE 'lease_expired' END,
            'message', CASE WHEN r.attempts >= r.max_attempts
                THEN format('attempts exhausted: the lease of attempt %s of %s expired '
                            '(worker %s stopped heartbeating)',
                            r.attempts, r.max_attempts, e.lost_by)
                ELSE format('the lease of attempt %s of %s expired (worker %s stopped '
                            'heartbeating); the run will be retried',
                            r.attempts, r.max_attempts, e.lost_by) END,
            'detail', jsonb_build_object(
                'attempts', r.attempts, 'max_attempts', r.max_attempts,
                'worker_id', e.lost_by)) END,
        progress = CASE WHEN r.cancel_requested THEN jsonb_build_object(
            'run_id', r.id, 'stage', 'cancelled', 'pct', r.progress -> 'pct')
            ELSE r.progress END,
        locked_by = NULL,
        run_after = now()
    FROM expired AS e
    WHERE r.id = e.id
    RETURNING r.id, r.status::text AS status, r.attempts, r.max_attempts, e.lost_by
),
logged AS (
    INSERT INTO events (run_id, event_type, payload)
    SELECT id,
           CASE WHEN status = 'pending' THEN 'lease_expired' ELSE status END,
           jsonb_build_object('attempt', attempts, 'worker_id', lost_by)
           || CASE WHEN status = 'cancelled' THEN '{"reason": "lease_expired"}'::jsonb
                   ELSE '{}'::jsonb END
    FROM reaped
),
dequeued AS (
    DELETE FROM run_queue
    WHERE run_id = ANY (ARRAY(
        SELECT id FROM reaped WHERE status <> 'pending'
        UNION ALL
        SELECT l.run_id FROM lapsed AS l
        WHERE NOT EXISTS (SELECT 1 FROM runs AS r WHERE r.id = l.run_id AND r.status = 'running')
    ))
)
SELECT id, status, attempts, max_attempts, lost_by FROM reaped;
