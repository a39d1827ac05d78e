SELECT id, run_id, kind::text AS kind, filename, storage_path, mime_type, size_bytes, sha256,
       created_at
FROM artifacts
WHERE run_id = $1
ORDER BY filename;
