-- An active key by the SHA-256 of its secret (uq_api_keys_key_hash).
SELECT id, name, scope FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL;
