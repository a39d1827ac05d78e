-- Mark many runs succeeded in one statement, each row fenced on (locked_by, attempts):
-- a worker that lost a run's lease writes nothing for it. Returns the ids written.
-- $1 worker id; $2.. one array per column, all of the same length (numbers as text).
--
-- lock_held_runs (migration 0013) locks the rows first, one primary-key lookup each, in id
-- order, as every statement that updates several held runs does (no deadlock between two of
-- one worker's connections); the fence is checked as each row is locked, on its newest
-- version, and the rows stay locked until commit. It returns each run's position `n` in the
-- arrays, and a run's values are taken by subscript: the UPDATE joins only (id, n) pairs, not
-- a dozen-column row per run, which PostgreSQL would copy whole for every row updated. The
-- UPDATE finds the rows by primary key alone (`= ANY`): with a status test there, stale
-- statistics (a fresh database, a burst of inserts) made the planner walk the partial index
-- of running runs, full of dead entries until autovacuum, at three times the cost.
WITH locked AS MATERIALIZED (
    SELECT id, n FROM lock_held_runs($1::text, $2::uuid[], $3::int[])
),
done AS (
    UPDATE runs AS r
    SET status = 'succeeded',
        final_value = ($4::text[])[x.n]::numeric,
        total_return = ($5::text[])[x.n]::numeric,
        sharpe_ratio = ($6::text[])[x.n]::numeric,
        max_drawdown = ($7::text[])[x.n]::numeric,
        win_rate = ($8::text[])[x.n]::numeric,
        total_trades = ($9::int[])[x.n],
        winning_trades = ($10::int[])[x.n],
        losing_trades = ($11::int[])[x.n],
        metrics = ($12::text[])[x.n]::jsonb,
        metadata = r.metadata || ($13::text[])[x.n]::jsonb,
        error = NULL,
        locked_by = NULL,
        -- What the transition guard would set: with both set here, it does not need to fire.
        finished_at = now(),
        lease_expires_at = NULL,
        progress = jsonb_build_object('run_id', r.id, 'stage', 'succeeded', 'pct', 100)
    FROM locked AS x
    WHERE r.id = ANY (ARRAY(SELECT id FROM locked))
      AND r.id = x.id
      AND r.locked_by = $1
    RETURNING r.id, r.attempts
),
logged AS (
    INSERT INTO events (run_id, event_type, payload)
    SELECT id, 'completed', jsonb_build_object('attempt', attempts, 'worker_id', $1::text)
    FROM done
),
dequeued AS (  -- a finished run leaves the queue (migration 0015)
    DELETE FROM run_queue WHERE run_id = ANY (ARRAY(SELECT id FROM done))
)
SELECT id FROM done;
