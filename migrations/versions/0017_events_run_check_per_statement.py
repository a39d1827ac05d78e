"""events.run_id is checked and cascaded once per statement instead of once per row

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03

The foreign key `fk_events_run_id_runs` checked every inserted event on its own: one index
lookup and one `FOR KEY SHARE` lock of the run's row per event, since PostgreSQL has no
batched referential check. A run's final transaction COPYs its trade events in one
statement (a 1M-bar run's 5,744 rows): the check was 38 % of that COPY's CPU
(docs/operations.md, "The final transaction's trade events").

The same rules, kept by statement-level triggers over transition tables:

- inserting or updating events locks each distinct run they name `FOR KEY SHARE`, once, and
  refuses the statement with the foreign key's error (SQLSTATE 23503, constraint
  `fk_events_run_id_runs`) if one is missing (`events_require_run`). As with the foreign key,
  a run being deleted makes the insert wait for the delete, then fail; a run locked by the
  insert makes the delete wait for its commit;
- deleting runs deletes their events, one DELETE per statement (`runs_cascade_events`: a
  delete cascaded from a sweep's parent fires it too); TRUNCATE of `runs` truncates `events`;
- changing a run's id while events name it is refused, as NO ACTION did.

Both functions are SECURITY DEFINER (with a fixed search_path), as referential actions run
with the table owner's rights: a role that may delete runs need not be granted anything on
`events`, an inserting role nothing on `runs`.

One difference remains: a DELETE of runs in a REPEATABLE READ or SERIALIZABLE transaction
does not see events committed after its snapshot (the foreign key's cascade checked the
latest rows); the worker's and Node's deletes run in READ COMMITTED.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REQUIRE_RUN = """
CREATE FUNCTION events_require_run() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
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
$$
"""

CASCADE_EVENTS = """
CREATE FUNCTION runs_cascade_events() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
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
$$
"""

TRIGGERS = (
    "CREATE TRIGGER events_require_run_inserted AFTER INSERT ON events"
    " REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION events_require_run()",
    "CREATE TRIGGER events_require_run_updated AFTER UPDATE ON events"
    " REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION events_require_run()",
    "CREATE TRIGGER runs_cascade_events_deleted AFTER DELETE ON runs"
    " REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION runs_cascade_events()",
    "CREATE TRIGGER runs_cascade_events_truncated BEFORE TRUNCATE ON runs"
    " FOR EACH STATEMENT EXECUTE FUNCTION runs_cascade_events()",
    "CREATE TRIGGER runs_cascade_events_id_changed BEFORE UPDATE OF id ON runs"
    " FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION runs_cascade_events()",
)


def upgrade() -> None:
    op.execute("ALTER TABLE events DROP CONSTRAINT fk_events_run_id_runs")
    op.execute(REQUIRE_RUN)
    op.execute(CASCADE_EVENTS)
    for trigger in TRIGGERS:
        op.execute(trigger)


def downgrade() -> None:
    op.execute("DROP TRIGGER events_require_run_inserted ON events")
    op.execute("DROP TRIGGER events_require_run_updated ON events")
    op.execute("DROP TRIGGER runs_cascade_events_deleted ON runs")
    op.execute("DROP TRIGGER runs_cascade_events_truncated ON runs")
    op.execute("DROP TRIGGER runs_cascade_events_id_changed ON runs")
    op.execute("DROP FUNCTION events_require_run()")
    op.execute("DROP FUNCTION runs_cascade_events()")
    op.execute(
        "ALTER TABLE events ADD CONSTRAINT fk_events_run_id_runs FOREIGN KEY (run_id)"
        " REFERENCES runs (id) ON DELETE CASCADE"
    )
