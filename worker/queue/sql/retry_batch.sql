-- Hand runs back to pending after a transient error, each to run again after its delay in
-- seconds (database clock). Fenced per row on ($1 worker, attempt); the attempt stays
-- counted. $2 ids, $3 attempts, $4 errors (jsonb text), $5 delays: arrays of one length.
-- Rows are locked by lock_held_runs, as in complete_batch.sql (values taken by position n).
WITH locked AS MATERIALIZED (
    SELECT id, n FROM lock_held_runs($1::text, $2::uuid[], $3::int[])
),
done AS (
    UPDATE runs AS r
    SET status = 'pending',
        error = ($4::text[])[x.n]::jsonb,
        locked_by = NULL,
        lease_expires_at = NULL,
        run_after = now() + make_interval(secs => ($5::float8[])[x.n]),
        progress = NULL
    FROM locked AS x
    WHERE r.id = ANY (ARRAY(SELECT id FROM locked))
      AND r.id = x.id
      AND r.locked_by = $1
    RETURNING r.id, r.attempts, r.run_after, r.error
),
logged AS (
    INSERT INTO events (run_id, event_type, payload)
    SELECT d.id, e.event_type, e.payload
    FROM done AS d
    CROSS JOIN LATERAL (
        VALUES
            ('error', jsonb_build_object(
                'attempt', d.attempts, 'worker_id', $1::text,
                'type', d.error -> 'type', 'message', d.error -> 'message')),
            ('retried', jsonb_build_object(
                'attempt', d.attempts, 'worker_id', $1::text, 'run_after', d.run_after))
    ) AS e(event_type, payload)
)
SELECT id FROM done;
