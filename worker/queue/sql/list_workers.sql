-- Every registered worker (idle ones too) with the runs it holds now; `alive` is a beat
-- within $1 seconds (a lease's length) by a worker not stopped.
SELECT w.id AS worker_id, w.hostname, w.pid, w.version, w.concurrency, w.state,
       w.started_at, w.last_beat,
       (w.state <> 'stopped' AND w.last_beat >= now() - make_interval(secs => $1)) AS alive,
       (SELECT count(*) FROM runs AS r WHERE r.status = 'running' AND r.locked_by = w.id)
           AS running_runs
FROM workers AS w
ORDER BY w.started_at, w.id;
