"""The GIN indexes leave out what a succeeded run writes to them on every run

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

Every run wrote GIN entries twice per attempt and more: `ix_runs_metadata` (jsonb_ops) an
entry per key and per value of `runs.metadata` (a real run's holds its resolved config,
strategy and timings, some sixty leaves), and `ix_events_payload` one per key and value of
each lifecycle event (`claimed`, `completed`, `dataset_loaded`, `simulation_started`) and of
the `metrics` event (seventy metrics). No query of the worker, the API, the dashboard or the
Node client searches either column (they read rows by run); the indexes serve ad hoc
containment searches (`@>`). Priced (docs/operations.md, "Server CPU per run"): a metrics
event cost about 100 µs of GIN upkeep, a real run's metadata about 44 µs.

- `ix_runs_metadata` uses `jsonb_path_ops`: one entry per leaf path instead of one per key
  and per value (a real run's metadata: 17 µs instead of 44), and it still answers `@>`,
  `@?` and `@@`; the key-existence operators (`?`, `?|`, `?&`) are no longer served by it.
- `ix_events_payload` also leaves out the events every run writes on its way to success
  (`claimed`, `completed`, `dataset_loaded`, `simulation_started`, `metrics`), as migration
  0004 left out the trades: it covers the events of retries, failures, hand-backs,
  cancellations and anything else written to the log. A search on those names its event
  type (`event_type = 'error' AND payload @> …`), which the planner needs anyway to use a
  partial index.

Both indexes are rebuilt (a lock on `runs` and `events` for the build).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAYLOAD_INDEX = (
    "CREATE INDEX ix_events_payload ON events USING gin (payload)"
    " WHERE event_type NOT IN ('trade_entry', 'trade_exit', 'claimed', 'completed',"
    " 'dataset_loaded', 'simulation_started', 'metrics')"
)
PAYLOAD_INDEX_BEFORE = (
    "CREATE INDEX ix_events_payload ON events USING gin (payload)"
    " WHERE event_type NOT IN ('trade_entry', 'trade_exit')"
)


def upgrade() -> None:
    op.execute("DROP INDEX ix_runs_metadata")
    op.execute("CREATE INDEX ix_runs_metadata ON runs USING gin (metadata jsonb_path_ops)")
    op.execute("DROP INDEX ix_events_payload")
    op.execute(PAYLOAD_INDEX)


def downgrade() -> None:
    op.execute("DROP INDEX ix_events_payload")
    op.execute(PAYLOAD_INDEX_BEFORE)
    op.execute("DROP INDEX ix_runs_metadata")
    op.execute("CREATE INDEX ix_runs_metadata ON runs USING gin (metadata)")
