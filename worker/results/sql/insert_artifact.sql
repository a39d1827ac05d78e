-- One artifact row; written only inside the run's fenced completion transaction.
INSERT INTO artifacts (run_id, kind, filename, storage_path, mime_type, size_bytes, sha256)
VALUES ($1, $2, $3, $4, $5, $6, $7)
