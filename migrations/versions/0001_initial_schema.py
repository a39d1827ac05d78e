"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25

The five shared tables, their ENUM types (created once, explicitly), and the triggers that
hold the run lifecycle every client shares: NOTIFY runs_pending (once per statement),
NOTIFY run_completed on terminal status, NOTIFY run_cancel, and the transition guard.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


run_mode = postgresql.ENUM("backtest", "paper", "live", name="run_mode", create_type=False)
run_status = postgresql.ENUM(
    "pending", "running", "succeeded", "failed", "cancelled", name="run_status", create_type=False
)
artifact_kind = postgresql.ENUM(
    "plot", "report", "csv", "pickle", "json", name="artifact_kind", create_type=False
)
ENUMS = (run_mode, run_status, artifact_kind)

TRIGGERS_UP = [
    # One notification per INSERT statement, however many pending rows it adds: a per-row
    # NOTIFY takes a global lock at commit and serializes inserting transactions under load.
    """
    CREATE FUNCTION runs_notify_pending_inserted() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM new_runs WHERE status = 'pending') THEN
            PERFORM pg_notify('runs_pending', '');
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER runs_notify_pending_insert
    AFTER INSERT ON runs REFERENCING NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION runs_notify_pending_inserted()
    """,
    # Runs handed back to pending (retry, shutdown, expired lease) wake the workers too.
    """
    CREATE FUNCTION runs_notify_pending_requeued() RETURNS trigger
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
    """,
    """
    CREATE TRIGGER runs_notify_pending_update
    AFTER UPDATE ON runs REFERENCING OLD TABLE AS old_runs NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION runs_notify_pending_requeued()
    """,
    # The lifecycle rules every client obeys: a finished run stays finished; cancelling a
    # pending run finishes it at once; cancelling a running one tells its worker.
    """
    CREATE FUNCTION runs_guard_transition() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.cancel_requested AND NOT OLD.cancel_requested THEN
            IF NEW.status = 'pending' THEN
                NEW.status := 'cancelled';
            ELSIF NEW.status = 'running' THEN
                PERFORM pg_notify('run_cancel', NEW.id::text);
            END IF;
        END IF;
        IF NEW.status IS DISTINCT FROM OLD.status THEN
            IF OLD.status IN ('succeeded', 'failed', 'cancelled') THEN
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
    """,
    """
    CREATE TRIGGER runs_guard_transition
    BEFORE UPDATE OF status, cancel_requested ON runs
    FOR EACH ROW EXECUTE FUNCTION runs_guard_transition()
    """,
    # The completion payload stays far below NOTIFY's 8000-byte limit: a few numbers, and an
    # error message cut to 500 characters (at most 6 bytes each once JSON-escaped).
    """
    CREATE FUNCTION runs_notify_completed() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('run_completed', jsonb_strip_nulls(jsonb_build_object(
            'run_id', NEW.id,
            'status', NEW.status,
            'finished_at', NEW.finished_at,
            'total_return', NEW.total_return,
            'sharpe_ratio', NEW.sharpe_ratio,
            'max_drawdown', NEW.max_drawdown,
            'total_trades', NEW.total_trades,
            'error_type', NEW.error ->> 'type',
            'error_message', left(NEW.error ->> 'message', 500)
        ))::text);
        RETURN NULL;
    END $$
    """,
    # Also on cancel_requested: the guard turns a pending run cancelled in a BEFORE trigger, and a
    # column trigger only sees the columns the UPDATE itself sets.
    """
    CREATE TRIGGER runs_notify_completed
    AFTER UPDATE OF status, cancel_requested ON runs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          AND NEW.status IN ('succeeded', 'failed', 'cancelled'))
    EXECUTE FUNCTION runs_notify_completed()
    """,
]

TRIGGERS_DOWN = [
    "DROP TRIGGER IF EXISTS runs_notify_completed ON runs",
    "DROP TRIGGER IF EXISTS runs_guard_transition ON runs",
    "DROP TRIGGER IF EXISTS runs_notify_pending_update ON runs",
    "DROP TRIGGER IF EXISTS runs_notify_pending_insert ON runs",
    "DROP FUNCTION IF EXISTS runs_notify_completed()",
    "DROP FUNCTION IF EXISTS runs_guard_transition()",
    "DROP FUNCTION IF EXISTS runs_notify_pending_requeued()",
    "DROP FUNCTION IF EXISTS runs_notify_pending_inserted()",
]


def upgrade() -> None:
    bind = op.get_bind()
    for enum in ENUMS:
        enum.create(bind, checkfirst=False)
    op.create_table(
        "datasets",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("symbols", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("start_date", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("end_date", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("storage_uri", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("hash ~ '^[0-9a-f]{64}$'", name=op.f("ck_datasets_hash_format")),
        sa.CheckConstraint(
            "timeframe ~ '^[1-9][0-9]*(s|m|h|d|w|M)$'", name=op.f("ck_datasets_timeframe_format")
        ),
        sa.CheckConstraint("cardinality(symbols) > 0", name=op.f("ck_datasets_symbols_nonempty")),
        sa.CheckConstraint("end_date >= start_date", name=op.f("ck_datasets_daterange")),
        sa.CheckConstraint("row_count > 0", name=op.f("ck_datasets_row_count_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("hash", name="uq_datasets_hash"),
    )
    op.create_index("ix_datasets_daterange", "datasets", ["start_date", "end_date"], unique=False)
    op.create_index("ix_datasets_timeframe", "datasets", ["timeframe"], unique=False)
    op.create_table(
        "strategies",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "version", sa.String(length=64), server_default=sa.text("'1.0.0'"), nullable=False
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "jsonb_typeof(params) = 'object'", name=op.f("ck_strategies_params_object")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strategies")),
        sa.UniqueConstraint("name", "version", name="uq_strategies_name_version"),
    )
    op.create_index(
        "ix_strategies_params", "strategies", ["params"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("dataset_id", sa.UUID(), nullable=False),
        sa.Column("strategy_id", sa.UUID(), nullable=False),
        sa.Column("mode", run_mode, server_default=sa.text("'backtest'"), nullable=False),
        sa.Column("status", run_status, server_default=sa.text("'pending'"), nullable=False),
        sa.Column("initial_capital", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column(
            "config",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("priority", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "run_after",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default=sa.text("3"), nullable=False),
        sa.Column("locked_by", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column(
            "cancel_requested", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("progress", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("finished_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("final_value", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("total_return", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("sharpe_ratio", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("max_drawdown", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("win_rate", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("total_trades", sa.Integer(), nullable=True),
        sa.Column("winning_trades", sa.Integer(), nullable=True),
        sa.Column("losing_trades", sa.Integer(), nullable=True),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "error IS NULL OR jsonb_typeof(error) = 'object'", name=op.f("ck_runs_error_object")
        ),
        sa.CheckConstraint("jsonb_typeof(config) = 'object'", name=op.f("ck_runs_config_object")),
        sa.CheckConstraint(
            "status <> 'running' OR (locked_by IS NOT NULL AND lease_expires_at IS NOT NULL)",
            name=op.f("ck_runs_running_has_lease"),
        ),
        sa.CheckConstraint(
            "status <> 'succeeded' OR (final_value IS NOT NULL AND total_return IS NOT NULL AND max_drawdown IS NOT NULL AND total_trades IS NOT NULL AND winning_trades IS NOT NULL AND losing_trades IS NOT NULL AND metrics IS NOT NULL AND finished_at IS NOT NULL)",
            name=op.f("ck_runs_succeeded_has_metrics"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_runs_attempts_nonnegative")),
        sa.CheckConstraint("initial_capital > 0", name=op.f("ck_runs_initial_capital_positive")),
        sa.CheckConstraint("max_attempts >= 1", name=op.f("ck_runs_max_attempts_positive")),
        sa.CheckConstraint("max_drawdown <= 0", name=op.f("ck_runs_max_drawdown_nonpositive")),
        sa.CheckConstraint(
            "total_trades = winning_trades + losing_trades", name=op.f("ck_runs_trades_sum")
        ),
        sa.CheckConstraint("win_rate >= 0 AND win_rate <= 1", name=op.f("ck_runs_win_rate_range")),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name="fk_runs_dataset_id_datasets", ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["strategy_id"],
            ["strategies.id"],
            name="fk_runs_strategy_id_strategies",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index("ix_runs_dataset_id", "runs", ["dataset_id"], unique=False)
    op.create_index("ix_runs_metadata", "runs", ["metadata"], unique=False, postgresql_using="gin")
    op.create_index("ix_runs_mode_date", "runs", ["mode", "created_at"], unique=False)
    op.create_index(
        "ix_runs_pending",
        "runs",
        [sa.literal_column("priority DESC"), "run_after", "created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_runs_running_lease",
        "runs",
        ["lease_expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index("ix_runs_status", "runs", ["status"], unique=False)
    op.create_index("ix_runs_strategy_id", "runs", ["strategy_id"], unique=False)
    op.create_table(
        "artifacts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("kind", artifact_kind, nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("storage_path", sa.Text(), nullable=False),
        sa.Column("mime_type", sa.String(length=127), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_artifacts_sha256_format")),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_artifacts_size_nonnegative")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_artifacts_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifacts")),
        sa.UniqueConstraint("run_id", "filename", name="uq_artifacts_run_filename"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column(
            "timestamp",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "jsonb_typeof(payload) = 'object'", name=op.f("ck_events_payload_object")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_events_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(
        "ix_events_payload", "events", ["payload"], unique=False, postgresql_using="gin"
    )
    op.create_index("ix_events_run_timestamp", "events", ["run_id", "timestamp"], unique=False)
    for statement in TRIGGERS_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in TRIGGERS_DOWN:
        op.execute(statement)
    op.drop_index("ix_events_run_timestamp", table_name="events")
    op.drop_index("ix_events_payload", table_name="events", postgresql_using="gin")
    op.drop_table("events")
    op.drop_table("artifacts")
    op.drop_index("ix_runs_strategy_id", table_name="runs")
    op.drop_index("ix_runs_status", table_name="runs")
    op.drop_index(
        "ix_runs_running_lease", table_name="runs", postgresql_where=sa.text("status = 'running'")
    )
    op.drop_index(
        "ix_runs_pending", table_name="runs", postgresql_where=sa.text("status = 'pending'")
    )
    op.drop_index("ix_runs_mode_date", table_name="runs")
    op.drop_index("ix_runs_metadata", table_name="runs", postgresql_using="gin")
    op.drop_index("ix_runs_dataset_id", table_name="runs")
    op.drop_table("runs")
    op.drop_index("ix_strategies_params", table_name="strategies", postgresql_using="gin")
    op.drop_table("strategies")
    op.drop_index("ix_datasets_timeframe", table_name="datasets")
    op.drop_index("ix_datasets_daterange", table_name="datasets")
    op.drop_table("datasets")
    bind = op.get_bind()
    for enum in reversed(ENUMS):
        enum.drop(bind, checkfirst=False)
