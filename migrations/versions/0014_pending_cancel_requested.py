"""A run sent back to pending while asked to stop ends `cancelled`

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

The claim skips a pending run whose `cancel_requested` is set, and until now only a cancel
request *arriving* on a pending run cancelled it. A run asked to stop while running and then
sent back to pending (its lease expired and the reaper handed it back, or its worker retried
it after a transient error or handed it back at shutdown) therefore stayed pending for ever:
never claimed, never ended, no `run_completed`. The reaper now ends such a run `cancelled`
itself (reap.sql, with an event); the transition guard makes it a rule of the table for every
writer: a run becoming `pending` with `cancel_requested` set becomes `cancelled` in the same
statement, as a pending run does when the request arrives (`run_completed` follows from the
status triggers). Rows left stuck by earlier workers are cancelled here, with a `cancelled`
event whose reason is `cancel_requested`.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUARD = """
CREATE OR REPLACE FUNCTION runs_guard_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    retrying text := coalesce(current_setting('backtest.retrying_run', true), '');
BEGIN
    IF NEW.cancel_requested AND NOT OLD.cancel_requested THEN
        IF NEW.status IN ('pending', 'waiting') THEN
            NEW.status := 'cancelled';
        ELSIF NEW.status = 'running' THEN
            PERFORM pg_notify('run_cancel', NEW.id::text);
        END IF;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN{handed_back}
        IF OLD.status IN ('succeeded', 'failed', 'cancelled') AND NOT (
            OLD.status IN ('failed', 'cancelled') AND NEW.status IN ('pending', 'waiting')
            AND (retrying = OLD.id::text OR retrying = OLD.parent_id::text) IS TRUE
        ) THEN
            RAISE EXCEPTION 'run % is already %: a finished run cannot become %',
                OLD.id, OLD.status, NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.status = 'succeeded' AND OLD.status <> 'running' THEN
            RAISE EXCEPTION 'run % is %: only a running run can succeed', OLD.id, OLD.status
                USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.status IN ('succeeded', 'failed', 'cancelled') THEN
            NEW.finished_at := coalesce(NEW.finished_at, now());
            NEW.lease_expires_at := NULL;
        ELSIF NEW.status = 'pending' THEN
            NEW.lease_expires_at := NULL;
        END IF;
    END IF;
    RETURN NEW;
END $$
"""
HANDED_BACK = """
        IF NEW.status = 'pending' AND NEW.cancel_requested THEN
            NEW.status := 'cancelled';  -- no claim takes it: it would never end
        END IF;"""

# The rows on which runs_guard_transition() raises or assigns something (0003, and the
# clause of this migration, last).
GUARD_NEEDED = """
    (NEW.cancel_requested AND NOT OLD.cancel_requested)
    OR (NEW.status IS DISTINCT FROM OLD.status AND (
        OLD.status IN ('succeeded', 'failed', 'cancelled')
        OR (NEW.status = 'succeeded' AND OLD.status <> 'running')
        OR (NEW.status IN ('succeeded', 'failed', 'cancelled')
            AND (NEW.finished_at IS NULL OR NEW.lease_expires_at IS NOT NULL))
        OR (NEW.status = 'pending' AND NEW.lease_expires_at IS NOT NULL){handed_back}
    ))
"""

CANCEL_STUCK = """
WITH stuck AS (
    UPDATE runs SET status = 'cancelled'
    WHERE status = 'pending' AND cancel_requested
    RETURNING id, attempts
)
INSERT INTO events (run_id, event_type, payload)
SELECT id, 'cancelled', jsonb_build_object('attempt', attempts, 'reason', 'cancel_requested')
FROM stuck
"""


def _trigger(when: str) -> str:
    return (
        "CREATE TRIGGER runs_guard_transition BEFORE UPDATE OF status, cancel_requested ON runs "
        f"FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION runs_guard_transition()"
    )


def upgrade() -> None:
    op.execute(GUARD.replace("{handed_back}", HANDED_BACK))
    op.execute("DROP TRIGGER runs_guard_transition ON runs")
    op.execute(
        _trigger(
            GUARD_NEEDED.replace(
                "{handed_back}", "\n        OR (NEW.status = 'pending' AND NEW.cancel_requested)"
            )
        )
    )
    op.execute(CANCEL_STUCK)


def downgrade() -> None:
    op.execute("DROP TRIGGER runs_guard_transition ON runs")
    op.execute(_trigger(GUARD_NEEDED.replace("{handed_back}", "")))
    op.execute(GUARD.replace("{handed_back}", ""))
