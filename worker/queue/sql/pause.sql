-- Pause ($1 true) or resume ($1 false) claiming for the whole fleet; $2 says who. Resuming
-- sends NOTIFY runs_pending (a trigger), so idle workers claim at once.
UPDATE queue_state
SET paused = $1, changed_at = now(), changed_by = $2
WHERE paused IS DISTINCT FROM $1
RETURNING paused;
