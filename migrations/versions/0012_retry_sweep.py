"""retry_run of a sweep: its failed and cancelled children again, the parent waiting

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

Until now `retry_run` made a failed or cancelled sweep parent pending like any run, and its
fan-in then refused it (`sweep_incomplete`): a child had not succeeded. Now, for a run that
has children (it fanned out):

* children that `failed` or were `cancelled` go back to `pending` as `retry_run` does for a
  run (`max_attempts := attempts + N`, error, progress, lease and times cleared,
  `cancel_requested` false, a `retry_requested` event each), and so do children left
  `pending` with `cancel_requested` set (the reaper hands a cancelled child's expired lease
  back to pending, where no claim takes it); succeeded children keep their rows and their
  `sweep_chunks`, and are not run again;
* the parent goes back to `waiting` (its progress the share of combinations already done),
  or to `pending` when no child is left to run (the sweep failed in its own fan-in run); the
  fan-in trigger of migration 0010 then fans it in once, when its last child finishes;
* while a child is still `running` (the parent ended and its cascade asked it to stop, which
  takes up to a heartbeat), the retry is refused with SQLSTATE 55000
  (object_not_in_prerequisite_state): that child is about to end `cancelled`, and a cancelled
  child cancels a waiting sweep, so retrying now would cancel the sweep again at once;
* retrying a child itself is refused with the same SQLSTATE, naming the sweep to retry: a
  child that ran again alone would leave its parent failed, or finish a sweep that had
  ended, behind its back.

The parent's row is locked first, then the children in id order. A child's completion locks
child then parent (the fan-in trigger), but only a running child completes, and the retry
touches no running child; the completion of one that is running waits for the parent's lock,
so it cannot commit between the check and the update.

The transition guard lets a finished run leave `failed`/`cancelled` inside `retry_run` only,
as before; the setting that says so now names the sweep for its children, and a parent may
become `waiting` as well as `pending`.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
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
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF OLD.status IN ('succeeded', 'failed', 'cancelled') AND NOT (
            OLD.status IN ('failed', 'cancelled') AND NEW.status IN ({revived})
            AND (retrying = OLD.id::text{by_parent}) IS TRUE
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
GUARD_0012 = GUARD.replace("{revived}", "'pending', 'waiting'").replace(
    "{by_parent}", " OR retrying = OLD.parent_id::text"
)
GUARD_0010 = GUARD.replace("{revived}", "'pending'").replace("{by_parent}", "")

RETRY_FUNCTION = """
CREATE OR REPLACE FUNCTION retry_run(p_run_id uuid, p_attempts integer DEFAULT 3)
RETURNS SETOF runs
LANGUAGE plpgsql AS $$
DECLARE
    old runs;
    children bigint;
    stopping bigint;
    requeued bigint := 0;
    open_children bigint;
    total bigint;
    finished bigint;
    v_status run_status := 'pending';
    v_progress jsonb;
BEGIN
    IF p_attempts IS NULL OR p_attempts < 1 OR p_attempts > 100 THEN
        RAISE EXCEPTION 'attempts must be between 1 and 100, not %', p_attempts
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO old FROM runs WHERE id = p_run_id FOR UPDATE;
    IF NOT FOUND OR old.status NOT IN ('failed', 'cancelled') THEN
        RETURN;  -- no such run, or not finished unsuccessfully: nothing to retry
    END IF;
    IF old.parent_id IS NOT NULL THEN
        RAISE EXCEPTION 'run % is a child of sweep %: retry the sweep instead', p_run_id,
            old.parent_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('retry_run(%L) runs its failed and cancelled children again '
                                'and keeps the ones that succeeded', old.parent_id);
    END IF;
    SELECT count(*), count(*) FILTER (WHERE status = 'running')
    INTO children, stopping
    FROM runs WHERE parent_id = p_run_id;
    IF stopping > 0 THEN
        RAISE EXCEPTION 'sweep % still has % running child(ren), stopping since it ended',
            p_run_id, stopping
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'retry once they have ended (a few seconds; a lease if their '
                         'worker died)';
    END IF;
    PERFORM set_config('backtest.retrying_run', p_run_id::text, true);
    IF children > 0 THEN
        WITH again AS MATERIALIZED (
            SELECT id, status, error, attempts
            FROM runs
            WHERE parent_id = p_run_id
              AND (status IN ('failed', 'cancelled') OR (status = 'pending' AND cancel_requested))
            ORDER BY id
            FOR UPDATE
        ),
        requeued_children AS (
            UPDATE runs AS c
            SET status = 'pending',
                max_attempts = a.attempts + p_attempts,
                run_after = now(),
                cancel_requested = false,
                error = NULL,
                progress = NULL,
                locked_by = NULL,
                started_at = NULL,
                finished_at = NULL
            FROM again AS a
            WHERE c.id = a.id
            RETURNING c.id
        ),
        logged AS (
            INSERT INTO events (run_id, event_type, payload)
            SELECT a.id, 'retry_requested', jsonb_strip_nulls(jsonb_build_object(
                'previous_status', a.status,
                'previous_error', a.error,
                'attempts', a.attempts,
                'max_attempts', a.attempts + p_attempts,
                'sweep_id', p_run_id))
            FROM again AS a
        )
        SELECT count(*) INTO requeued FROM requeued_children;
        IF requeued > 0 THEN
            PERFORM pg_notify('runs_pending', '');  -- a child left pending changes no status
        END IF;
        SELECT count(*) FILTER (WHERE status = 'pending'),
               coalesce(sum((metadata #>> '{sweep,combinations}')::bigint), 0),
               coalesce(sum((metadata #>> '{sweep,combinations}')::bigint)
                        FILTER (WHERE status = 'succeeded'), 0)
        INTO open_children, total, finished
        FROM runs WHERE parent_id = p_run_id;
        IF open_children > 0 THEN
            v_status := 'waiting';
            v_progress := jsonb_build_object(
                'run_id', p_run_id, 'stage', 'sweep',
                'pct', round(100.0 * finished / greatest(total, 1), 2),
                'combinations', total, 'finished_combinations', finished);
        END IF;
    END IF;
    RETURN QUERY
    UPDATE runs
    SET status = v_status,
        max_attempts = old.attempts + p_attempts,
        run_after = now(),
        cancel_requested = false,
        error = NULL,
        progress = v_progress,
        locked_by = NULL,
        lease_expires_at = NULL,
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
        'max_attempts', old.attempts + p_attempts,
        'children_requeued', CASE WHEN children > 0 THEN requeued END)));
END $$
"""

# Migration 0008's function, for the downgrade.
RETRY_FUNCTION_0008 = """
CREATE OR REPLACE FUNCTION retry_run(p_run_id uuid, p_attempts integer DEFAULT 3)
RETURNS SETOF runs
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


def upgrade() -> None:
    op.execute(GUARD_0012)
    op.execute(RETRY_FUNCTION)


def downgrade() -> None:
    op.execute(RETRY_FUNCTION_0008)
    op.execute(GUARD_0010)
