"""workers registry, queue pause flag, retry of a finished run

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

`workers`: one row per worker process (registered at start, `last_beat` advanced by its
heartbeat, `stopped` on a clean shutdown; rows silent for long are deleted by any worker).

`queue_state`: one row; while `paused`, the claim statement claims nothing (runs already
running finish). Resuming sends `NOTIFY runs_pending`, so idle workers claim at once.

`retry_run(run_id, attempts)`: a failed or cancelled run goes back to pending with
`attempts` more attempts (`max_attempts := attempts + $2`, so attempt numbers, and the fence
on them, never repeat). The transition guard lets a finished run become pending only inside
this function (a transaction-local setting names the run), so no stray UPDATE, worker or
Node, can revive a finished run. The row's error moves into a `retry_requested` event; events stay.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUARD = """
CREATE OR REPLACE FUNCTION runs_guard_transition() RETURNS trigger
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
        IF OLD.status IN ('succeeded', 'failed', 'cancelled') {retry_exception}THEN
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
RETRY_EXCEPTION = """AND NOT (
            OLD.status IN ('failed', 'cancelled') AND NEW.status = 'pending'
            AND coalesce(current_setting('backtest.retrying_run', true), '') = OLD.id::text
        ) """

RETRY_FUNCTION = """
CREATE FUNCTION retry_run(p_run_id uuid, p_attempts integer DEFAULT 3) RETURNS SETOF runs
LANGUAGE plpgsql AS $$
DECLARE
    old runs;
BEGIN
    IF p_attempts IS NULL OR p_attempts < 1 OR p_attempts > 100 THEN
        RAISE EXCEPTION 'attempts must be between 1 and 100, not %', p_attempts
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO old FROM runs WHERE id = p_run_id FOR UPDATE;
    IF NOT FOUND OR old.status NOT IN ('failed', 'cancelled') THEN
        RETURN;  -- no such run, or not finished unsuccessfully: nothing to retry
    END IF;
    PERFORM set_config('backtest.retrying_run', p_run_id::text, true);
    RETURN QUERY
    UPDATE runs
    SET status = 'pending',
        max_attempts = old.attempts + p_attempts,
        run_after = now(),
        cancel_requested = false,
        error = NULL,
        progress = NULL,
        locked_by = NULL,
        started_at = NULL,
        finished_at = NULL
    WHERE id = p_run_id
    RETURNING *;
    PERFORM set_config('backtest.retrying_run', '', true);
    INSERT INTO events (run_id, event_type, payload)
    VALUES (p_run_id, 'retry_requested', jsonb_strip_nulls(jsonb_build_object(
        'previous_status', old.status,
        'previous_error', old.error,
        'attempts', old.attempts,
        'max_attempts', old.attempts + p_attempts)));
END $$
"""

QUEUE_RESUMED = """
CREATE FUNCTION queue_state_notify_resumed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('runs_pending', '');
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_beat", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("state", sa.String(16), server_default=sa.text("'running'"), nullable=False),
        sa.CheckConstraint(
            "state IN ('running', 'stopping', 'stopped')", name=op.f("ck_workers_state_known")
        ),
        sa.CheckConstraint("concurrency > 0", name=op.f("ck_workers_concurrency_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_table(
        "queue_state",
        sa.Column("singleton", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("changed_by", sa.String(255), nullable=True),
        sa.CheckConstraint("singleton", name=op.f("ck_queue_state_one_row")),
        sa.PrimaryKeyConstraint("singleton", name=op.f("pk_queue_state")),
    )
    op.execute("INSERT INTO queue_state DEFAULT VALUES")
    op.execute(QUEUE_RESUMED)
    op.execute(
        """
        CREATE TRIGGER queue_state_notify_resumed
        AFTER UPDATE OF paused ON queue_state
        FOR EACH ROW WHEN (OLD.paused AND NOT NEW.paused)
        EXECUTE FUNCTION queue_state_notify_resumed()
        """
    )
    op.execute(GUARD.replace("{retry_exception}", RETRY_EXCEPTION))
    op.execute(RETRY_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION retry_run(uuid, integer)")
    op.execute(GUARD.replace("{retry_exception}", ""))
    op.drop_table("queue_state")
    op.execute("DROP FUNCTION queue_state_notify_resumed()")
    op.drop_table("workers")
