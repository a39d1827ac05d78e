-- The state machine of the shared tables, as a database at the newest migration holds it:
-- enums, the check constraints of `runs`, every function and trigger. Generated from the
-- catalog by `python -m worker.db.state_machine DATABASE_URL > docs/state_machine.sql`;
-- do not edit (the migrations in migrations/versions are the source).
-- Deparsed by PostgreSQL 15.

-- Enums
CREATE TYPE artifact_kind AS ENUM ('plot', 'report', 'csv', 'pickle', 'json', 'parquet');
CREATE TYPE run_mode AS ENUM ('backtest', 'paper', 'live');
CREATE TYPE run_status AS ENUM ('pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled');

-- Check constraints of runs
ALTER TABLE runs ADD CONSTRAINT ck_runs_attempts_nonnegative CHECK ((attempts >= 0));
ALTER TABLE runs ADD CONSTRAINT ck_runs_config_object CHECK ((jsonb_typeof(config) = 'object'::text));
ALTER TABLE runs ADD CONSTRAINT ck_runs_error_object CHECK (((error IS NULL) OR (jsonb_typeof(error) = 'object'::text)));
ALTER TABLE runs ADD CONSTRAINT ck_runs_initial_capital_positive CHECK ((initial_capital > (0)::numeric));
ALTER TABLE runs ADD CONSTRAINT ck_runs_max_attempts_positive CHECK ((max_attempts >= 1));
ALTER TABLE runs ADD CONSTRAINT ck_runs_max_drawdown_nonpositive CHECK ((max_drawdown <= (0)::numeric));
ALTER TABLE runs ADD CONSTRAINT ck_runs_running_has_lease CHECK (((status <> 'running'::run_status) OR ((locked_by IS NOT NULL) AND (lease_expires_at IS NOT NULL))));
ALTER TABLE runs ADD CONSTRAINT ck_runs_succeeded_has_metrics CHECK (((status <> 'succeeded'::run_status) OR ((final_value IS NOT NULL) AND (total_return IS NOT NULL) AND (max_drawdown IS NOT NULL) AND (total_trades IS NOT NULL) AND (winning_trades IS NOT NULL) AND (losing_trades IS NOT NULL) AND (metrics IS NOT NULL) AND (finished_at IS NOT NULL))));
ALTER TABLE runs ADD CONSTRAINT ck_runs_trades_sum CHECK ((total_trades = (winning_trades + losing_trades)));
ALTER TABLE runs ADD CONSTRAINT ck_runs_win_rate_range CHECK (((win_rate >= (0)::numeric) AND (win_rate <= (1)::numeric)));

-- Functions

CREATE OR REPLACE FUNCTION public.api_keys_notify_revoked()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
        BEGIN
            PERFORM pg_notify('api_key_revoked', OLD.id::text);
            RETURN NULL;
        END $function$;

CREATE OR REPLACE FUNCTION public.events_require_run()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
DECLARE
    missing uuid;
BEGIN
    WITH named AS (SELECT DISTINCT run_id FROM written),
    locked AS (
        SELECT r.id FROM runs AS r WHERE r.id IN (SELECT run_id FROM named) FOR KEY SHARE
    )
    SELECT n.run_id INTO missing
    FROM named AS n
    WHERE NOT EXISTS (SELECT 1 FROM locked AS l WHERE l.id = n.run_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "events" violates foreign key constraint "fk_events_run_id_runs"'
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = 'fk_events_run_id_runs',
                  TABLE = 'events',
                  DETAIL = format('Key (run_id)=(%s) is not present in table "runs".', missing);
    END IF;
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION public.lock_held_runs(p_worker text, p_ids uuid[], p_attempts integer[])
 RETURNS TABLE(id uuid, n integer)
 LANGUAGE plpgsql
 ROWS 100
AS $function$
BEGIN
    -- The rows of p_ids (with their attempts) that p_worker still holds, locked FOR NO KEY
    -- UPDATE in id order until the transaction ends; n is the position in p_ids.
    RETURN QUERY
    SELECT held.id, x.n::int
    FROM (SELECT t.id, t.attempt, t.n
          FROM unnest(p_ids, p_attempts) WITH ORDINALITY AS t(id, attempt, n)
          ORDER BY t.id) AS x
    CROSS JOIN LATERAL (
        SELECT runs.id
        FROM runs
        WHERE runs.id = x.id
          AND runs.status = 'running'
          AND runs.locked_by = p_worker
          AND runs.attempts = x.attempt
        FOR NO KEY UPDATE
    ) AS held;
END $function$;

CREATE OR REPLACE FUNCTION public.queue_state_notify_resumed()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_notify('runs_pending', '');
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.retry_run(p_run_id uuid, p_attempts integer DEFAULT 3)
 RETURNS SETOF runs
 LANGUAGE plpgsql
AS $function$
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
END $function$;

CREATE OR REPLACE FUNCTION public.run_completed_payload(r runs)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
AS $function$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'run_id', r.id,
        'status', r.status,
        'finished_at', r.finished_at,
        'total_return', r.total_return,
        'sharpe_ratio', r.sharpe_ratio,
        'max_drawdown', r.max_drawdown,
        'total_trades', r.total_trades,
        'error_type', r.error ->> 'type',
        'error_message', left(r.error ->> 'message', 500)
    ))
$function$;

CREATE OR REPLACE FUNCTION public.runs_cascade_events()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM events AS e USING gone AS g WHERE e.run_id = g.id;
        RETURN NULL;
    ELSIF TG_OP = 'TRUNCATE' THEN
        TRUNCATE events;
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM events WHERE run_id = OLD.id) THEN
        RAISE EXCEPTION 'update or delete on table "runs" violates foreign key constraint "fk_events_run_id_runs" on table "events"'
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = 'fk_events_run_id_runs',
                  TABLE = 'runs',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "events".', OLD.id);
    END IF;
    RETURN NEW;
END
$function$;

CREATE OR REPLACE FUNCTION public.runs_enqueue_inserted()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    INSERT INTO run_queue (run_id, priority, run_after, created_at)
    SELECT id, priority, run_after, created_at FROM new_runs WHERE status = 'pending';
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.runs_guard_transition()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
        IF NEW.status = 'pending' AND NEW.cancel_requested THEN
            NEW.status := 'cancelled';  -- no claim takes it: it would never end
        END IF;
        IF OLD.status IN ('succeeded', 'failed', 'cancelled') AND NOT (
            OLD.status IN ('failed', 'cancelled') AND NEW.status IN ('pending', 'waiting')
            AND (retrying = OLD.id::text OR retrying = OLD.parent_id::text) IS TRUE
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
END $function$;

CREATE OR REPLACE FUNCTION public.runs_notify_completed()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_notify('run_completed', run_completed_payload(NEW)::text);
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.runs_notify_pending_inserted()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        IF EXISTS (SELECT 1 FROM new_runs WHERE status = 'pending') THEN
            PERFORM pg_notify('runs_pending', '');
        END IF;
        RETURN NULL;
    END $function$;

CREATE OR REPLACE FUNCTION public.runs_notify_pending_requeued()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_notify('runs_pending', '');
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.runs_queue_sync()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF NEW.status = 'pending' THEN
        INSERT INTO run_queue (run_id, priority, run_after, created_at)
        VALUES (NEW.id, NEW.priority, NEW.run_after, NEW.created_at)
        ON CONFLICT (run_id) DO UPDATE
        SET priority = EXCLUDED.priority,
            run_after = EXCLUDED.run_after,
            lease_expires_at = NULL;
    ELSIF NEW.status = 'running' THEN
        UPDATE run_queue SET lease_expires_at = NEW.lease_expires_at WHERE run_id = NEW.id;
    ELSE
        DELETE FROM run_queue WHERE run_id = NEW.id;
    END IF;
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.runs_sweep_cancel_children()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
END $function$;

CREATE OR REPLACE FUNCTION public.runs_sweep_children_finished()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM sweep_child_finished(NEW.parent_id);
    RETURN NULL;
END $function$;

CREATE OR REPLACE FUNCTION public.sweep_child_finished(p_parent uuid)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
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
END $function$;

-- Triggers

CREATE TRIGGER api_keys_notify_revoked AFTER DELETE OR UPDATE OF revoked_at, scope, key_hash ON api_keys FOR EACH ROW EXECUTE FUNCTION api_keys_notify_revoked();

CREATE TRIGGER events_require_run_inserted AFTER INSERT ON events REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION events_require_run();

CREATE TRIGGER events_require_run_updated AFTER UPDATE ON events REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION events_require_run();

CREATE TRIGGER queue_state_notify_resumed AFTER UPDATE OF paused ON queue_state FOR EACH ROW WHEN (old.paused AND NOT new.paused) EXECUTE FUNCTION queue_state_notify_resumed();

CREATE TRIGGER runs_cascade_events_deleted AFTER DELETE ON runs REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION runs_cascade_events();

CREATE TRIGGER runs_cascade_events_id_changed BEFORE UPDATE OF id ON runs FOR EACH ROW WHEN (old.id IS DISTINCT FROM new.id) EXECUTE FUNCTION runs_cascade_events();

CREATE TRIGGER runs_cascade_events_truncated BEFORE TRUNCATE ON runs FOR EACH STATEMENT EXECUTE FUNCTION runs_cascade_events();

CREATE TRIGGER runs_enqueue_inserted AFTER INSERT ON runs REFERENCING NEW TABLE AS new_runs FOR EACH STATEMENT EXECUTE FUNCTION runs_enqueue_inserted();

CREATE TRIGGER runs_guard_transition BEFORE UPDATE OF status, cancel_requested ON runs FOR EACH ROW WHEN (new.cancel_requested AND NOT old.cancel_requested OR new.status IS DISTINCT FROM old.status AND ((old.status = ANY (ARRAY['succeeded'::run_status, 'failed'::run_status, 'cancelled'::run_status])) OR new.status = 'succeeded'::run_status AND old.status <> 'running'::run_status OR (new.status = ANY (ARRAY['succeeded'::run_status, 'failed'::run_status, 'cancelled'::run_status])) AND (new.finished_at IS NULL OR new.lease_expires_at IS NOT NULL) OR new.status = 'pending'::run_status AND new.lease_expires_at IS NOT NULL OR new.status = 'pending'::run_status AND new.cancel_requested)) EXECUTE FUNCTION runs_guard_transition();

CREATE TRIGGER runs_notify_completed AFTER UPDATE OF status, cancel_requested ON runs FOR EACH ROW WHEN (old.status IS DISTINCT FROM new.status AND (new.status = ANY (ARRAY['succeeded'::run_status, 'failed'::run_status, 'cancelled'::run_status])) AND new.parent_id IS NULL) EXECUTE FUNCTION runs_notify_completed();

CREATE TRIGGER runs_notify_pending_insert AFTER INSERT ON runs REFERENCING NEW TABLE AS new_runs FOR EACH STATEMENT EXECUTE FUNCTION runs_notify_pending_inserted();

CREATE TRIGGER runs_notify_pending_update AFTER UPDATE OF status ON runs FOR EACH ROW WHEN (new.status = 'pending'::run_status AND old.status <> 'pending'::run_status) EXECUTE FUNCTION runs_notify_pending_requeued();

CREATE TRIGGER runs_queue_sync AFTER UPDATE OF status, cancel_requested, priority, run_after, lease_expires_at ON runs FOR EACH ROW WHEN (new.status = 'pending'::run_status AND (old.status <> 'pending'::run_status OR new.priority <> old.priority OR new.run_after <> old.run_after) OR old.status = 'pending'::run_status AND (new.status <> ALL (ARRAY['pending'::run_status, 'running'::run_status])) OR old.status = 'running'::run_status AND new.status = 'running'::run_status AND new.lease_expires_at IS DISTINCT FROM old.lease_expires_at) EXECUTE FUNCTION runs_queue_sync();

CREATE TRIGGER runs_sweep_cancel_children AFTER UPDATE OF status, cancel_requested ON runs FOR EACH ROW WHEN (old.status = 'waiting'::run_status AND (new.status = ANY (ARRAY['failed'::run_status, 'cancelled'::run_status]))) EXECUTE FUNCTION runs_sweep_cancel_children();

CREATE TRIGGER runs_sweep_children_finished AFTER UPDATE OF status, cancel_requested ON runs FOR EACH ROW WHEN (new.parent_id IS NOT NULL AND (new.status = ANY (ARRAY['succeeded'::run_status, 'failed'::run_status, 'cancelled'::run_status])) AND (old.status <> ALL (ARRAY['succeeded'::run_status, 'failed'::run_status, 'cancelled'::run_status]))) EXECUTE FUNCTION runs_sweep_children_finished();
