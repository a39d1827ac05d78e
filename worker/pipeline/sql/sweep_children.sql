-- A sweep's children in chunk order, each with its window (a walk-forward sweep's; NULL
-- otherwise, as jsonb text) and its stored evaluation (NULL if none yet).
SELECT c.id, c.status::text AS status, (c.config #> '{sweep_chunk,window}')::text AS window,
       s.combinations, s.partitions, s.rows, s.counts, s.powers
FROM runs AS c
LEFT JOIN sweep_chunks AS s ON s.run_id = c.id
WHERE c.parent_id = $1
ORDER BY (c.metadata #>> '{sweep,index}')::int, c.id;
