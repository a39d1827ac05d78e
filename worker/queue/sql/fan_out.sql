-- A run fans out (a sweep): its children are inserted and it waits for them, in one
-- statement, fenced per parent on ($1 worker, attempt). $2 parent ids, $3 attempts; one
-- row per child in $4 parent id, $5 index, $6 combinations, $7 config (jsonb text).
--
-- The parent leaves `running` for `waiting`: no lease, no worker (the claim takes only
-- pending runs, the reaper only running ones); the attempt is given back, as at a hand-back,
-- so the fan-in that follows does not pay for the split. A cancel that came while it split
-- ends it `cancelled` instead, with no children. Children inherit the parent's dataset,
-- strategy, mode, capital, priority and max_attempts; their `metadata.sweep` names the parent,
-- their index and their number of combinations (what the parent's progress counts).
-- Rows are locked by lock_held_runs, as in complete_batch.sql.
WITH locked AS MATERIALIZED (
    SELECT id, n FROM lock_held_runs($1::text, $2::uuid[], $3::int[])
),
parked AS (
    UPDATE runs AS r
    SET status = CASE WHEN r.cancel_requested THEN 'cancelled'::run_status
                      ELSE 'waiting'::run_status END,
        locked_by = NULL,
        lease_expires_at = NULL,
        attempts = CASE WHEN r.cancel_requested THEN r.attempts ELSE r.attempts - 1 END,
        progress = jsonb_build_object('run_id', r.id, 'stage', 'sweep', 'pct', 0)
    FROM locked AS x
    WHERE r.id = ANY (ARRAY(SELECT id FROM locked))
      AND r.id = x.id
      AND r.locked_by = $1
    RETURNING r.id, r.status, ($3::int[])[x.n] AS attempt, r.dataset_id, r.strategy_id,
              r.mode, r.initial_capital, r.priority, r.max_attempts
),
children AS (
    INSERT INTO runs (parent_id, dataset_id, strategy_id, mode, initial_capital, priority,
                      max_attempts, config, metadata)
    SELECT p.id, p.dataset_id, p.strategy_id, p.mode, p.initial_capital, p.priority,
           p.max_attempts, c.config::jsonb,
           jsonb_build_object('sweep', jsonb_build_object(
               'parent_id', p.id, 'index', c.index, 'combinations', c.combinations))
    FROM unnest($4::uuid[], $5::int[], $6::int[], $7::text[])
        WITH ORDINALITY AS c(parent_id, index, combinations, config, n)
    JOIN parked AS p ON p.id = c.parent_id AND p.status = 'waiting'
    ORDER BY c.n
    RETURNING parent_id
),
logged AS (
    INSERT INTO events (run_id, event_type, payload)
    SELECT p.id, 'fanned_out', jsonb_build_object(
        'attempt', p.attempt, 'worker_id', $1::text,
        'children', (SELECT count(*) FROM children AS c WHERE c.parent_id = p.id))
    FROM parked AS p
    WHERE p.status = 'waiting'
),
dequeued AS (  -- a waiting or cancelled parent leaves the queue (migration 0015)
    DELETE FROM run_queue WHERE run_id = ANY (ARRAY(SELECT id FROM parked))
)
SELECT id FROM parked;
