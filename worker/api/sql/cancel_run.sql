-- The SQL contract's cancel. A pending run becomes cancelled in this statement (the guard
-- trigger) and run_completed is sent; a running run's worker is told on run_cancel; a
-- waiting sweep is cancelled at once with its children (docs/contract.md, Sweeps).
UPDATE runs SET cancel_requested = true
WHERE id = $1 AND status IN ('pending', 'running', 'waiting')
RETURNING *;
