-- Looked up by name in the table: the name never becomes part of a path.
SELECT id, run_id, kind::text AS kind, filename, storage_path, mime_type, size_bytes, sha256,
       created_at
FROM artifacts
WHERE run_id = $1 AND filename = $2;
