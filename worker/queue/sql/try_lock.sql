-- The session-level advisory lock $1 if no other session holds it (true), else false at once.
SELECT pg_try_advisory_lock($1);
