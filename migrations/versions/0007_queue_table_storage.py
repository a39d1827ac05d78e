"""Queue tables' storage: fillfactor and autovacuum for runs, autovacuum for events

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02

`runs` is updated several times per run (claim, progress, heartbeats, the final state). With
room left on each page (fillfactor 90) an update whose columns are in no index — a progress
write — can be a HOT update, without new index entries. Claims and final states change
`status`, which `ix_runs_status` indexes and the partial indexes `ix_runs_pending` and
`ix_runs_running_lease` name in their predicates, and heartbeats change `lease_expires_at`
(`ix_runs_running_lease`); those are never HOT (docs/operations.md, "Table health").
Autovacuum starts on `runs` after 2% of it is dead (not the default 20%) plus 200 rows, so a
busy queue's dead versions are reclaimed within minutes even when the table is large.

`events` is append-only (deleted only with its run): fillfactor stays 100; autovacuum and
ANALYZE come after 5% new rows, so the visibility map and statistics keep up with inserts.
There is no lease table: leases are columns of `runs`.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE runs SET (fillfactor = 90,"
        " autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 200,"
        " autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 200)"
    )
    op.execute(
        "ALTER TABLE events SET (autovacuum_vacuum_insert_scale_factor = 0.05,"
        " autovacuum_analyze_scale_factor = 0.05)"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE events RESET (autovacuum_vacuum_insert_scale_factor,"
        " autovacuum_analyze_scale_factor)"
    )
    op.execute(
        "ALTER TABLE runs RESET (fillfactor, autovacuum_vacuum_scale_factor,"
        " autovacuum_vacuum_threshold, autovacuum_analyze_scale_factor,"
        " autovacuum_analyze_threshold)"
    )
