-- Extend the lease of every run this worker ($1) holds by $4 seconds, in one statement.
-- Returns the runs still held, with their cancel flag; a run missing from the result has
-- been taken from this worker (its lease expired and it was reaped).
UPDATE runs AS r
SET lease_expires_at = now() + make_interval(secs => $4)
FROM unnest($2::uuid[], $3::int[]) AS h(id, attempt)
WHERE r.id = h.id
  AND r.id = ANY ($2::uuid[])
  AND r.status = 'running'
  AND r.locked_by = $1
  AND r.attempts = h.attempt
RETURNING r.id, r.cancel_requested;
