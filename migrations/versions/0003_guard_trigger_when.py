"""The transition guard fires only when it has something to check or to set

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

`runs_guard_transition` ran its PL/pgSQL function for every UPDATE of status or
cancel_requested, including the two every run goes through (a claim, pending → running; a
completion that writes finished_at and clears the lease itself), where the function changes
nothing. A WHEN clause now skips exactly the rows on which the function would be a no-op:
the function is unchanged, and still runs for every transition it guards (a finished run
changing status, a run succeeding without running, a cancel request) or completes (setting
finished_at, clearing lease_expires_at).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rows on which runs_guard_transition() raises or assigns something (see 0001).
GUARD_NEEDED = """
    (NEW.cancel_requested AND NOT OLD.cancel_requested)
    OR (NEW.status IS DISTINCT FROM OLD.status AND (
        OLD.status IN ('succeeded', 'failed', 'cancelled')
        OR (NEW.status = 'succeeded' AND OLD.status <> 'running')
        OR (NEW.status IN ('succeeded', 'failed', 'cancelled')
            AND (NEW.finished_at IS NULL OR NEW.lease_expires_at IS NOT NULL))
        OR (NEW.status = 'pending' AND NEW.lease_expires_at IS NOT NULL)
    ))
"""


def upgrade() -> None:
    op.execute("DROP TRIGGER runs_guard_transition ON runs")
    op.execute(
        f"""
        CREATE TRIGGER runs_guard_transition
        BEFORE UPDATE OF status, cancel_requested ON runs
        FOR EACH ROW
        WHEN ({GUARD_NEEDED})
        EXECUTE FUNCTION runs_guard_transition()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER runs_guard_transition ON runs")
    op.execute(
        """
        CREATE TRIGGER runs_guard_transition
        BEFORE UPDATE OF status, cancel_requested ON runs
        FOR EACH ROW EXECUTE FUNCTION runs_guard_transition()
        """
    )
