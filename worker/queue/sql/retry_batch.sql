-- Hand runs back to pending after a transient error, each to run again after its delay in
-- seconds (database clock). Fenced per row on ($1 worker, attempt); the attempt stays
-- counted. $2 ids, $3 attempts, $4 errors (jsonb text), $5 delays: arrays of one length.
-- Rows are locked in id order first, as in heartbeat.sql (no deadlock with the heartbeat).
WITH results AS MATERIALIZED (
    SELECT *
    FROM unnest($2::uuid[], $3::int[], $4::text[], $5::float8[])
        AS t(id, attempt, error, delay_seconds)
),
locked AS MATERIALIZED (
    SELECT r.id
    FROM (SELECT id, attempt FROM results ORDER BY id) AS x
    CROSS JOIN LATERAL (
        SELECT id
        FROM runs
        WHERE id = x.id
          AND status = 'running'
          AND locked_by = $1
          AND attempts = x.attempt
        FOR NO KEY UPDATE
    ) AS r
),
done AS (
    UPDATE runs AS r
    SET status = 'pending',
        error = x.error::jsonb,
        locked_by = NULL,
        lease_expires_at = NULL,
        run_after = now() + make_interval(secs => x.delay_seconds),
        progress = NULL
    FROM results AS x
    WHERE r.id = x.id
      AND r.id = ANY (ARRAY(SELECT id FROM locked))
      AND r.locked_by = $1
      AND r.attempts = x.attempt
    RETURNING r.id, r.attempts, r.run_after, x.error::jsonb AS error
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
