-- The status and attempt of runs $1 now: after a final write whose first try's commit was
-- not acknowledged, the completer reads whether that try landed.
SELECT id, status::text AS status, attempts
FROM runs
WHERE id = ANY ($1::uuid[])
