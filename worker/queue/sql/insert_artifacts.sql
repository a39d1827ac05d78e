-- The artifact rows of runs whose completion this transaction has just written (the fence
-- held). $1.. one array per column, of the same length.
INSERT INTO artifacts (run_id, kind, filename, storage_path, mime_type, size_bytes, sha256)
SELECT run_id, kind::artifact_kind, filename, storage_path, mime_type, size_bytes, sha256
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[])
    AS t(run_id, kind, filename, storage_path, mime_type, size_bytes, sha256);
