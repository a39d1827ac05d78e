"""sweeps: runs.parent_id, the `waiting` status, sweep_chunks, and the fan-in triggers

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

A run whose config has `grid` and `sweep` is a parent: the worker that claims it inserts
child runs (`parent_id` → the parent) and parks the parent `waiting` (no lease, no worker:
the claim takes pending runs, the reaper running ones). Each child stores its chunk's
evaluation in `sweep_chunks`. The fan-in is in the database, so that whoever finishes the
last child, on any machine, it happens once:

* `runs_sweep_children_finished` (a row trigger whose WHEN clause passes only a child
  entering a final status, so no other UPDATE calls a function, as in 0009) takes the
  parent's row lock, then counts its children: the completions of one sweep serialize on
  that lock, and each sees the others once it holds it (READ COMMITTED gives every
  statement a new snapshot; an AFTER row trigger runs once its statement is done, so it
  sees the statement's other children too). Two batches finishing children of the same two
  sweeps in opposite orders can deadlock on the parents: PostgreSQL aborts one, and the
  completer retries it (a deadlock is a transient error). The parent's
  progress becomes the share of finished combinations (NOTIFY run_progress); when none is
  left open the parent goes back to `pending` (NOTIFY runs_pending) and any worker ranks the
  chunks and completes it, fenced on its lease like any run. A failed child fails the sweep
  with its error; a cancelled child cancels it.
* `runs_sweep_cancel_children`: a waiting parent that ends (cancelled, or failed by a child)
  sets cancel_requested on its pending and running children (pending ones end cancelled at
  once, running ones are told with NOTIFY run_cancel). Rows locked at that moment are
  skipped rather than waited for (the lock order child → parent of the fan-in would
  deadlock with it); the heartbeat reports a child of a finished parent as cancelled, so a
  skipped running child stops within a heartbeat.
* `runs_notify_completed` fires for top-level runs only: a sweep sends one run_completed.
* The transition guard cancels a waiting run at once, as a pending one.

PostgreSQL cannot drop an ENUM value: the downgrade leaves `waiting` in `run_status` (unused:
sweeps' children are deleted, waiting parents failed).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUARD = """
CREATE OR REPLACE FUNCTION runs_guard_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.cancel_requested AND NOT OLD.cancel_requested THEN
        IF NEW.status IN ({cancel_at_once}) THEN
            NEW.status := 'cancelled';
        ELSIF NEW.status = 'running' THEN
            PERFORM pg_notify('run_cancel', NEW.id::text);
        END IF;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF OLD.status IN ('succeeded', 'failed', 'cancelled') AND NOT (
            OLD.status IN ('failed', 'cancelled') AND NEW.status = 'pending'
            AND coalesce(current_setting('backtest.retrying_run', true), '') = OLD.id::text
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

NOTIFY_COMPLETED = """
CREATE TRIGGER runs_notify_completed
AFTER UPDATE OF status, cancel_requested ON runs
FOR EACH ROW
WHEN (OLD.status IS DISTINCT FROM NEW.status
      AND NEW.status IN ('succeeded', 'failed', 'cancelled'){top_level})
EXECUTE FUNCTION runs_notify_completed()
"""

FAN_IN = """
CREATE FUNCTION sweep_child_finished(p_parent uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    parent runs;
    failed runs;
    open_children bigint;
    total bigint;
    finished bigint;
    v_progress jsonb;
BEGIN
    -- The serialization point of a sweep's fan-in (see the migration's docstring).
    SELECT * INTO parent FROM runs WHERE id = p_parent FOR UPDATE;
    IF NOT FOUND OR parent.status <> 'waiting' THEN
        RETURN;  -- already ended (cancelled, failed) or fanned in: nothing more to do
    END IF;
    SELECT * INTO failed FROM runs
    WHERE parent_id = p_parent AND status = 'failed'
    ORDER BY finished_at, id LIMIT 1;
    IF FOUND THEN
        UPDATE runs
        SET status = 'failed',
            error = jsonb_build_object(
                'type', coalesce(failed.error ->> 'type', 'sweep_child_failed'),
                'message', format('chunk %s of the sweep (run %s) failed: %s',
                                  failed.metadata #>> '{sweep,index}', failed.id,
                                  coalesce(failed.error ->> 'message', 'no message')),
                'detail', jsonb_build_object(
                    'child_run_id', failed.id, 'child_error', failed.error)),
            progress = jsonb_build_object(
                'run_id', p_parent, 'stage', 'failed', 'pct', parent.progress -> 'pct')
        WHERE id = p_parent;
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM runs WHERE parent_id = p_parent AND status = 'cancelled') THEN
        UPDATE runs SET cancel_requested = true WHERE id = p_parent;  -- the guard ends it
        RETURN;
    END IF;
    SELECT count(*) FILTER (WHERE status IN ('pending', 'running')),
           coalesce(sum((metadata #>> '{sweep,combinations}')::bigint), 0),
           coalesce(sum((metadata #>> '{sweep,combinations}')::bigint)
                    FILTER (WHERE status = 'succeeded'), 0)
    INTO open_children, total, finished
    FROM runs WHERE parent_id = p_parent;
    v_progress := jsonb_build_object(
        'run_id', p_parent, 'stage', 'sweep',
        'pct', round(100.0 * finished / greatest(total, 1), 2),
        'combinations', total, 'finished_combinations', finished);
    IF open_children = 0 THEN
        UPDATE runs SET status = 'pending', run_after = now(), progress = v_progress
        WHERE id = p_parent;
        INSERT INTO events (run_id, event_type, payload)
        VALUES (p_parent, 'children_finished', jsonb_build_object(
            'combinations', total,
            'children', (SELECT count(*) FROM runs WHERE parent_id = p_parent)));
    ELSE
        UPDATE runs SET progress = v_progress WHERE id = p_parent;
    END IF;
    PERFORM pg_notify('run_progress', v_progress::text);
END $$
"""

CHILDREN_FINISHED = """
CREATE FUNCTION runs_sweep_children_finished() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sweep_child_finished(NEW.parent_id);
    RETURN NULL;
END $$
"""

CANCEL_CHILDREN = """
CREATE FUNCTION runs_sweep_cancel_children() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE runs SET cancel_requested = true
    WHERE id IN (
        SELECT id FROM runs
        WHERE parent_id = NEW.id
          AND status IN ('pending', 'running')
          AND NOT cancel_requested
        ORDER BY id
        FOR UPDATE SKIP LOCKED
    );
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE run_status ADD VALUE IF NOT EXISTS 'waiting' AFTER 'running'")
    op.add_column("runs", sa.Column("parent_id", postgresql.UUID(as_uuid=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_runs_parent_id_runs"), "runs", "runs", ["parent_id"], ["id"], ondelete="CASCADE"
    )
    op.create_index(
        op.f("ix_runs_parent_id"),
        "runs",
        ["parent_id"],
        postgresql_where=sa.text("parent_id IS NOT NULL"),
    )
    op.create_table(
        "sweep_chunks",
        sa.Column("run_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("parent_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("combinations", sa.Integer(), nullable=False),
        sa.Column("partitions", sa.Integer(), nullable=False),
        sa.Column("rows", sa.LargeBinary(), nullable=False),
        sa.Column("counts", sa.LargeBinary(), nullable=False),
        sa.Column("powers", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("combinations > 0", name=op.f("ck_sweep_chunks_combinations_positive")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_sweep_chunks_run_id_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["runs.id"],
            name=op.f("fk_sweep_chunks_parent_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_sweep_chunks")),
    )
    op.create_index(
        op.f("ix_sweep_chunks_parent_id_chunk_index"),
        "sweep_chunks",
        ["parent_id", "chunk_index"],
    )
    op.execute(GUARD.replace("{cancel_at_once}", "'pending', 'waiting'"))
    op.execute("DROP TRIGGER runs_notify_completed ON runs")
    op.execute(NOTIFY_COMPLETED.replace("{top_level}", "\n      AND NEW.parent_id IS NULL"))
    op.execute(FAN_IN)
    op.execute(CHILDREN_FINISHED)
    op.execute(
        """
        CREATE TRIGGER runs_sweep_children_finished
        AFTER UPDATE OF status, cancel_requested ON runs
        FOR EACH ROW
        WHEN (NEW.parent_id IS NOT NULL
              AND NEW.status IN ('succeeded', 'failed', 'cancelled')
              AND OLD.status NOT IN ('succeeded', 'failed', 'cancelled'))
        EXECUTE FUNCTION runs_sweep_children_finished()
        """
    )
    op.execute(CANCEL_CHILDREN)
    op.execute(
        """
        CREATE TRIGGER runs_sweep_cancel_children
        AFTER UPDATE OF status, cancel_requested ON runs
        FOR EACH ROW
        WHEN (OLD.status = 'waiting' AND NEW.status IN ('failed', 'cancelled'))
        EXECUTE FUNCTION runs_sweep_cancel_children()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER runs_sweep_cancel_children ON runs")
    op.execute("DROP FUNCTION runs_sweep_cancel_children()")
    op.execute("DROP TRIGGER runs_sweep_children_finished ON runs")
    op.execute("DROP FUNCTION runs_sweep_children_finished()")
    op.execute("DROP FUNCTION sweep_child_finished(uuid)")
    op.execute("DROP TRIGGER runs_notify_completed ON runs")
    op.execute(NOTIFY_COMPLETED.replace("{top_level}", ""))
    op.execute(GUARD.replace("{cancel_at_once}", "'pending'"))
    op.drop_table("sweep_chunks")
    op.execute("DELETE FROM runs WHERE parent_id IS NOT NULL")
    op.drop_index(op.f("ix_runs_parent_id"), table_name="runs")
    op.drop_constraint(op.f("fk_runs_parent_id_runs"), "runs", type_="foreignkey")
    op.drop_column("runs", "parent_id")
    # `waiting` stays in the type (PostgreSQL cannot drop an ENUM value, and rebuilding the
    # type means dropping every trigger, index and constraint on runs.status): parked sweeps
    # end failed, so no row uses it.
    op.execute(
        """UPDATE runs SET status = 'failed', error = '{"type": "downgraded",
        "message": "the sweep was waiting when the schema was downgraded below 0009"}'
        WHERE status = 'waiting'"""
    )
