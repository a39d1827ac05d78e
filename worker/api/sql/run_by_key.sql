SELECT * FROM runs WHERE idempotency_key = $1;
