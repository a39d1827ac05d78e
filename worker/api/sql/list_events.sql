-- One page of a run's log in id order, after id $2, optionally one event type.
SELECT id, run_id, event_type, timestamp, payload, created_at
FROM events
WHERE run_id = $1 AND id > $2 AND ($3::text IS NULL OR event_type = $3::text)
ORDER BY id
LIMIT $4;
