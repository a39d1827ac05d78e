-- The SQL contract's INSERT (docs/contract.md), with the optional columns and the request's
-- Idempotency-Key. A key already used inserts nothing and returns no row: the caller then
-- reads the run that holds it (run_by_key). The insert trigger sends NOTIFY runs_pending.
INSERT INTO runs (dataset_id, strategy_id, initial_capital, config, mode, priority, run_after,
                  max_attempts, idempotency_key)
VALUES ($1, $2, $3, $4::jsonb, $5::run_mode, $6, coalesce($7, now()), $8, $9)
ON CONFLICT ON CONSTRAINT uq_runs_idempotency_key DO NOTHING
RETURNING *;
