-- The rows a worker will read for a run of dataset $1 and strategy $2 (the columns of
-- worker/pipeline/sql/run_inputs.sql), so POST /runs refuses what the worker would fail.
-- One row always; the *_found columns say which id exists.
SELECT d.id IS NOT NULL AS dataset_found,
       s.id IS NOT NULL AS strategy_found,
       d.name AS dataset_name,
       d.storage_uri,
       d.hash AS dataset_hash,
       d.timeframe,
       d.symbols,
       s.name AS strategy_name,
       s.version AS strategy_version,
       s.params AS strategy_params
FROM (SELECT 1) AS one
LEFT JOIN datasets d ON d.id = $1
LEFT JOIN strategies s ON s.id = $2;
