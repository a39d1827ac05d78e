-- Runs whose lease expired (their worker died or hung): back to pending, or `failed` once
-- attempts reach max_attempts. A run asked to stop (cancel_requested) ends `cancelled`
-- instead: no claim takes a pending run with the flag, so handed back it would never end.
-- The status triggers send `run_completed` for either final state, as for any other.
-- Rows another session is updating are skipped.
WITH expired AS (
    SELECT id, locked_by AS lost_by
    FROM runs
    WHERE status = 'running'
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
)
SELECT id, status, attempts, max_attempts, lost_by FROM reaped;
