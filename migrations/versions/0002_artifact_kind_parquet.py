"""artifact_kind gains 'parquet' (the equity curve, for quants who load it into polars/pandas)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

PostgreSQL adds an ENUM value in place; it cannot remove one, so the downgrade rebuilds the type
without it (after deleting the rows that use it).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TYPE artifact_kind ADD VALUE IF NOT EXISTS 'parquet'")


def downgrade() -> None:
    op.execute("DELETE FROM artifacts WHERE kind = 'parquet'")
    op.execute("ALTER TYPE artifact_kind RENAME TO artifact_kind_old")
    op.execute("CREATE TYPE artifact_kind AS ENUM ('plot', 'report', 'csv', 'pickle', 'json')")
    op.execute(
        "ALTER TABLE artifacts ALTER COLUMN kind TYPE artifact_kind USING kind::text::artifact_kind"
    )
    op.execute("DROP TYPE artifact_kind_old")
