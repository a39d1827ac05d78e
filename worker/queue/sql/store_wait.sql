-- How long a success's final transaction waited for the run's pending files, written into
-- runs.metadata.timings.store_wait once they are stored (same transaction, after the fence
-- held). $1 run ids; $2 seconds, of the same length.
UPDATE runs AS r
SET metadata = r.metadata || jsonb_build_object(
    'timings', coalesce(r.metadata -> 'timings', '{}'::jsonb)
        || jsonb_build_object('store_wait', w.seconds)
)
FROM unnest($1::uuid[], $2::float8[]) AS w(id, seconds)
WHERE r.id = w.id;
