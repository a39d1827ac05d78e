-- A sweep child's evaluation ($4 index, $5 combinations, $6 partitions, $7 rows JSON,
-- $8 counts, $9 powers), written only while worker $2 holds attempt $3 of run $1, and only
-- for a child (parent_id set). A retried child overwrites the row of its earlier attempt.
WITH run AS (
    SELECT id, parent_id
    FROM runs
    WHERE id = $1
      AND status = 'running'
      AND locked_by = $2
      AND attempts = $3
),
written AS (
    INSERT INTO sweep_chunks (run_id, parent_id, chunk_index, combinations, partitions,
                              rows, counts, powers)
    SELECT id, parent_id, $4, $5, $6, $7, $8, $9
    FROM run
    WHERE parent_id IS NOT NULL
    ON CONFLICT (run_id) DO UPDATE
    SET chunk_index = EXCLUDED.chunk_index,
        combinations = EXCLUDED.combinations,
        partitions = EXCLUDED.partitions,
        rows = EXCLUDED.rows,
        counts = EXCLUDED.counts,
        powers = EXCLUDED.powers,
        created_at = now()
    RETURNING run_id
)
SELECT EXISTS (SELECT 1 FROM run) AS held,
       EXISTS (SELECT 1 FROM run WHERE parent_id IS NOT NULL) AS has_parent,
       (SELECT count(*) FROM written) AS written;
