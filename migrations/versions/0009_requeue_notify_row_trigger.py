"""runs_pending on a requeue: a row trigger with a WHEN clause instead of a statement trigger

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

The statement trigger `runs_notify_pending_update` kept transition tables (`OLD TABLE`,
`NEW TABLE`): PostgreSQL copied every row of every UPDATE of `runs` into them — each claim,
completion, heartbeat and progress write — for a function that then joined them to find a
row that went back to pending, which almost none do. A row trigger on `UPDATE OF status`
whose `WHEN (NEW.status = 'pending' AND OLD.status <> 'pending')` is tested by the executor
calls no function and stores nothing for the others. It still sends one notification per
transaction, not one per row: PostgreSQL folds identical notifications (same channel and
payload) of one transaction into one. Measured with the queue bench's throughput routine
(`bench/queue_throughput.py`, real workers, 20,000 no-op runs, 2 processes) on databases with
either trigger, alternated, under other load: 126 and 129 CPU ms of PostgreSQL per 1,000 runs
against 140 and 148, about 10 % less.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_FUNCTION = """
CREATE OR REPLACE FUNCTION runs_notify_pending_requeued() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('runs_pending', '');
    RETURN NULL;
END $$
"""

ROW_TRIGGER = """
CREATE TRIGGER runs_notify_pending_update
AFTER UPDATE OF status ON runs
FOR EACH ROW
WHEN (NEW.status = 'pending' AND OLD.status <> 'pending')
EXECUTE FUNCTION runs_notify_pending_requeued()
"""

STATEMENT_FUNCTION = """
CREATE OR REPLACE FUNCTION runs_notify_pending_requeued() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM new_runs n JOIN old_runs o ON o.id = n.id
        WHERE n.status = 'pending' AND o.status <> 'pending'
    ) THEN
        PERFORM pg_notify('runs_pending', '');
    END IF;
    RETURN NULL;
END $$
"""

STATEMENT_TRIGGER = """
CREATE TRIGGER runs_notify_pending_update
AFTER UPDATE ON runs REFERENCING OLD TABLE AS old_runs NEW TABLE AS new_runs
FOR EACH STATEMENT EXECUTE FUNCTION runs_notify_pending_requeued()
"""


def upgrade() -> None:
    op.execute("DROP TRIGGER runs_notify_pending_update ON runs")
    op.execute(ROW_FUNCTION)
    op.execute(ROW_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER runs_notify_pending_update ON runs")
    op.execute(STATEMENT_FUNCTION)
    op.execute(STATEMENT_TRIGGER)
