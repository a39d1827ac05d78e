-- Events of a run in progress ($4 types, $5 payloads as JSON text), written only while
-- worker $2 holds attempt $3 of run $1: an attempt that lost its lease adds nothing to the
-- log of the attempt that took over.
INSERT INTO events (run_id, event_type, payload)
SELECT r.id, e.event_type, e.payload::jsonb
FROM runs AS r
CROSS JOIN unnest($4::text[], $5::text[]) WITH ORDINALITY AS e(event_type, payload, n)
WHERE r.id = $1
  AND r.status = 'running'
  AND r.locked_by = $2
  AND r.attempts = $3
ORDER BY e.n;
