-- What a worker needs to execute a claimed run: its dataset and its strategy (and its sweep,
-- for a sweep's child).
SELECT
    r.parent_id,
    d.name AS dataset_name,
    d.storage_uri,
    d.hash AS dataset_hash,
    d.timeframe,
    d.symbols,
    s.name AS strategy_name,
    s.version AS strategy_version,
    s.params::text AS strategy_params  -- decoded within the input bounds (worker/bounds.py)
FROM runs r
JOIN datasets d ON d.id = r.dataset_id
JOIN strategies s ON s.id = r.strategy_id
WHERE r.id = $1
