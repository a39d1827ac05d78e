-- Every registered worker (idle ones too) with the runs it holds now; `alive` is a beat
-- within $1 seconds (a lease's length) by a worker not stopped. Running runs are found
-- through the leased rows of run_queue (migration 0015), counted once for all workers.
WITH held AS (
    SELECT r.locked_by, count(*) AS runs
    FROM run_queue AS q
    JOIN runs AS r ON r.id = q.run_id
    WHERE q.lease_expires_at IS NOT NULL
      AND r.status = 'running'
    GROUP BY r.locked_by
)
SELECT w.id AS worker_id, w.hostname, w.pid, w.version, w.concurrency, w.state,
       w.started_at, w.last_beat,
       (w.state <> 'stopped' AND w.last_beat >= now() - make_interval(secs => $1)) AS alive,
       coalesce(h.runs, 0) AS running_runs
FROM workers AS w
LEFT JOIN held AS h ON h.locked_by = w.id
ORDER BY w.started_at, w.id;
