-- Everything the queue-wide gauges show, in one statement, read once per scrape of the API's
-- /metrics. Depth counts only pending and running runs (the rows of run_queue, migration 0015);
-- finished runs are counted by the workers' runs_finished_total, not by scanning history.
-- $1: a worker is alive when it beat within this many seconds.
SELECT
    (SELECT coalesce(jsonb_agg(jsonb_build_object('status', status, 'priority', priority,
                                                  'runs', runs)), '[]'::jsonb)
     FROM (SELECT r.status::text AS status, r.priority, count(*) AS runs
           FROM run_queue AS q JOIN runs AS r ON r.id = q.run_id
           WHERE r.status IN ('pending', 'running')
           GROUP BY 1, 2) AS depth) AS depth,
    (SELECT extract(epoch FROM now() - min(run_after))::float8
     FROM run_queue
     WHERE lease_expires_at IS NULL AND run_after <= now())
        AS oldest_runnable_seconds,
    (SELECT coalesce(jsonb_object_agg(relname,
                     n_dead_tup::float8 / nullif(n_live_tup + n_dead_tup, 0)), '{}'::jsonb)
     FROM pg_stat_user_tables
     WHERE schemaname = current_schema() AND relname IN ('runs', 'events')) AS dead_tuple_ratio,
    pg_notification_queue_usage() AS notification_queue_usage,
    coalesce((SELECT paused FROM queue_state), false) AS paused,
    (SELECT coalesce(jsonb_object_agg(state, workers), '{}'::jsonb)
     FROM (SELECT CASE WHEN state <> 'stopped'
                        AND last_beat < now() - make_interval(secs => $1)
                       THEN 'silent' ELSE state END AS state,
                  count(*) AS workers
           FROM workers GROUP BY 1) AS w) AS workers;
