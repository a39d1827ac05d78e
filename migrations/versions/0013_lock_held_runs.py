"""lock_held_runs(): the fenced, id-ordered row lock of every statement that ends a held run

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

Six statements of the queue (complete, fail, retry, cancel, hand back, fan out) and the
heartbeat begin the same way: lock the runs a worker says it holds, one primary-key lookup
each, in id order (two statements of one worker that lock overlapping rows in one order
cannot deadlock), keeping only those whose newest version is still `running`, locked by
that worker, at that attempt (the fence). That step was a CTE copied into seven files; it
is this function now, called once per statement.

It returns each locked run's id and its position `n` in the arrays given (1-based), so a
statement takes a run's other values by subscript, `($4::text[])[x.n]`, and joins only this
narrow (id, n) set. A join with the unnested input itself (one row of a dozen columns per
run, metrics JSON included) was the costliest part of the completion: PostgreSQL copies
every row of a non-table relation joined to an UPDATE whole (for its re-check of rows
updated concurrently), and the plan grew worse than linearly with the batch. Measured on a
private PostgreSQL 15 with one claimer and one completer connection draining 20,000 no-op
runs (`complete_batch.sql`, server CPU per run): batches of 100, 71 -> 50 us; of 500,
135 -> 46 us.

PL/pgSQL, so that its plan is prepared once per session (an SQL function that locks rows is
volatile, and is planned again at every call); the caller still finds the rows to update
with `id = ANY (ARRAY(SELECT id FROM locked))`, a primary-key plan whatever the statistics.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK_HELD_RUNS = """
CREATE OR REPLACE FUNCTION lock_held_runs(p_worker text, p_ids uuid[], p_attempts int[])
RETURNS TABLE (id uuid, n int)
LANGUAGE plpgsql
ROWS 100
AS $$
BEGIN
    -- The rows of p_ids (with their attempts) that p_worker still holds, locked FOR NO KEY
    -- UPDATE in id order until the transaction ends; n is the position in p_ids.
    RETURN QUERY
    SELECT held.id, x.n::int
    FROM (SELECT t.id, t.attempt, t.n
          FROM unnest(p_ids, p_attempts) WITH ORDINALITY AS t(id, attempt, n)
          ORDER BY t.id) AS x
    CROSS JOIN LATERAL (
        SELECT runs.id
        FROM runs
        WHERE runs.id = x.id
          AND runs.status = 'running'
          AND runs.locked_by = p_worker
          AND runs.attempts = x.attempt
        FOR NO KEY UPDATE
    ) AS held;
END $$
"""


def upgrade() -> None:
    op.execute(LOCK_HELD_RUNS)


def downgrade() -> None:
    op.execute("DROP FUNCTION lock_held_runs(text, uuid[], int[])")
