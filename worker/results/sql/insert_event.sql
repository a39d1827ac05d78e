-- A lifecycle event of a run in progress (few per run; trades go through COPY).
INSERT INTO events (run_id, event_type, timestamp, payload)
VALUES ($1, $2, coalesce($3, now()), $4)
