"""ix_events_payload leaves trade events out

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

A run with 100,000 trades writes 200,000 trade events; maintaining a GIN entry for every key
and value of each one doubled the time of their COPY (measured with bench/events.py). Trade
events are read by run (ix_events_run_timestamp), not searched by payload across runs, so the
GIN index now covers every event except `trade_entry` and `trade_exit`.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_events_payload", table_name="events", postgresql_using="gin")
    op.execute(
        "CREATE INDEX ix_events_payload ON events USING gin (payload)"
        " WHERE event_type NOT IN ('trade_entry', 'trade_exit')"
    )


def downgrade() -> None:
    op.drop_index("ix_events_payload", table_name="events", postgresql_using="gin")
    op.create_index("ix_events_payload", "events", ["payload"], postgresql_using="gin")
