-- Mark many runs succeeded in one statement, each row fenced on (locked_by, attempts):
-- a worker that lost a run's lease writes nothing for it. Returns the ids written.
-- $1 worker id; $2.. one array per column, all of the same length (numbers as text).
--
-- Rows are locked first, one primary-key lookup each, in id order, as the heartbeat does
-- (heartbeat.sql): the two statements of one worker update overlapping rows from two
-- connections, and locking in one order is what keeps them from deadlocking. The fence is
-- checked as each row is locked, on its newest version, and the rows stay locked until
-- commit. The UPDATE then finds them by primary key alone: with a status test there, stale
-- statistics (a fresh database, a burst of inserts) made the planner walk the partial index
-- of running runs, full of dead entries until autovacuum, at three times the cost.
WITH results AS MATERIALIZED (
    SELECT *
    FROM unnest(
        $2::uuid[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[], $9::int[], $10::int[], $11::int[], $12::text[], $13::text[]
    ) AS t(id, attempt, final_value, total_return, sharpe_ratio, max_drawdown, win_rate,
           total_trades, winning_trades, losing_trades, metrics, metadata)
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
    SET status = 'succeeded',
        final_value = x.final_value::numeric,
        total_return = x.total_return::numeric,
        sharpe_ratio = x.sharpe_ratio::numeric,
        max_drawdown = x.max_drawdown::numeric,
        win_rate = x.win_rate::numeric,
        total_trades = x.total_trades,
        winning_trades = x.winning_trades,
        losing_trades = x.losing_trades,
        metrics = x.metrics::jsonb,
        metadata = r.metadata || x.metadata::jsonb,
        error = NULL,
        locked_by = NULL,
        -- What the transition guard would set: with both set here, it does not need to fire.
        finished_at = now(),
        lease_expires_at = NULL,
        progress = jsonb_build_object('run_id', r.id, 'stage', 'succeeded', 'pct', 100)
    FROM results AS x
    WHERE r.id = x.id
      AND r.id = ANY (ARRAY(SELECT id FROM locked))
      AND r.locked_by = $1
      AND r.attempts = x.attempt
    RETURNING r.id, r.attempts
),
logged AS (
    INSERT INTO events (run_id, event_type, payload)
    SELECT id, 'completed', jsonb_build_object('attempt', attempts, 'worker_id', $1::text)
    FROM done
)
SELECT id FROM done;
