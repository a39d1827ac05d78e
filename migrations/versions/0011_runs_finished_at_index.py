"""ix_runs_finished_at: recent completions without reading history

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

The dashboard's throughput (runs finished in the last minute, 15 minutes and hour) reads
only the last hour's finished runs through this partial index, however long the history.
It costs no HOT update: `finished_at` is set by the final-state update, which changes
`status` (indexed by `ix_runs_status`) in the same statement, so it was never HOT.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_runs_finished_at",
        "runs",
        ["finished_at"],
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_runs_finished_at", table_name="runs")
