-- A clean shutdown: worker $1 is marked stopped (kept until it expires, so `status` shows
-- that it left, and when).
UPDATE workers SET state = 'stopped', last_beat = now() WHERE id = $1;
