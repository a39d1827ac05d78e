-- Sweep children's evaluations ($1 run ids, $2 chunk index, $3 combinations, $4 partitions,
-- $5 rows JSON, $6 counts, $7 powers), written by the completer in the transaction that
-- marks those children succeeded, for the ones whose fence held: the chunk and the success
-- commit together, so the fan-in the success may trigger always finds it. Only a sweep's
-- child has a row here (parent_id set); a retried child overwrites its earlier attempt's.
INSERT INTO sweep_chunks (run_id, parent_id, chunk_index, combinations, partitions,
                          rows, counts, powers)
SELECT r.id, r.parent_id, t.chunk_index, t.combinations, t.partitions, t.rows, t.counts,
       t.powers
FROM unnest($1::uuid[], $2::int[], $3::int[], $4::int[], $5::bytea[], $6::bytea[],
            $7::bytea[]) AS t(run_id, chunk_index, combinations, partitions, rows, counts,
                              powers)
JOIN runs AS r ON r.id = t.run_id
WHERE r.parent_id IS NOT NULL
ORDER BY t.run_id
ON CONFLICT (run_id) DO UPDATE
SET chunk_index = EXCLUDED.chunk_index,
    combinations = EXCLUDED.combinations,
    partitions = EXCLUDED.partitions,
    rows = EXCLUDED.rows,
    counts = EXCLUDED.counts,
    powers = EXCLUDED.powers,
    created_at = now();
