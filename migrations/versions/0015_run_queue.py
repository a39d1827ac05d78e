"""run_queue: the claim's and the reaper's indexes move off `runs`, so the claim is a HOT update

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03

Every run is updated twice by the queue: the claim and the final state. Both changed
`status`, which `ix_runs_status` indexes and the partial indexes `ix_runs_pending` and
`ix_runs_running_lease` name in their predicates, so neither could be a HOT update: each
inserted a new entry into every index of `runs` (twelve), and that upkeep was the largest
part of PostgreSQL's CPU per run (docs/operations.md, "Server CPU per run").

The claim's order and the lease now live in `run_queue`, one narrow row per pending or
running run: (run_id, priority, run_after, created_at, lease_expires_at), its lease NULL while
the run is pending. `ix_run_queue_pending` serves the claim, `ix_run_queue_lease` the
reaper. With those three indexes gone from `runs`, no column the claim writes (status,
locked_by, attempts, started_at, lease_expires_at, progress) is indexed there, and the claim
is HOT when the page has room: `fillfactor = 50` leaves it (new pages only; a HOT version
needs space on its own page). Heartbeats become HOT too. `run_queue` is written three times
per run, so autovacuum visits it as early as `runs` (2% plus 200 rows). The final state still changes
`metadata` and `finished_at` (indexed) and stays non-HOT.

`runs` keeps every column Node reads, as before (`status`, `lease_expires_at`, `locked_by`
are still written there); `run_queue` is the worker's. It is kept by the database:

- inserting pending runs (Node's INSERT, a sweep's fan-out) adds their queue rows
  (`runs_enqueue_inserted`, statement level);
- a run that becomes pending (retry, hand-back, lease expiry, a sweep's fan-in,
  `retry_run()`) gets its row back, unleased; a pending run's new priority or run_after is
  copied; a pending run that ends without being claimed (a cancel) loses it; a running run's
  new lease (a heartbeat, or any writer) is copied (`runs_queue_sync`);
- the queue's own statements do the rest in the same statement, without a trigger: the claim
  leases the row, a final state (complete, fail, cancel, fan-out, reaper) deletes it.
  A row whose run has ended without that (a writer outside this package) is leased, so never
  claimed, and the reaper deletes it once its lease expires;
- deleting a run deletes its row (`ON DELETE CASCADE`).

Lock order: statements that change a run lock its `runs` row first and its queue row second;
the claim and the reaper, which find runs by their queue rows, take both with SKIP LOCKED and
so never wait for one another's or anyone's locks.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREATE_QUEUE = (
    """
CREATE TABLE run_queue (
    run_id uuid NOT NULL,
    priority smallint NOT NULL,
    run_after timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    lease_expires_at timestamptz,
    CONSTRAINT pk_run_queue PRIMARY KEY (run_id),
    CONSTRAINT fk_run_queue_run_id_runs FOREIGN KEY (run_id) REFERENCES runs (id)
        ON DELETE CASCADE
)""",
    """
CREATE INDEX ix_run_queue_pending ON run_queue (priority DESC, run_after, created_at)
    WHERE lease_expires_at IS NULL""",
    """
CREATE INDEX ix_run_queue_lease ON run_queue (lease_expires_at)
    WHERE lease_expires_at IS NOT NULL""",
    """
INSERT INTO run_queue (run_id, priority, run_after, created_at, lease_expires_at)
SELECT id, priority, run_after, created_at,
       CASE WHEN status = 'running' THEN lease_expires_at END
FROM runs
WHERE status IN ('pending', 'running')""",
)

ENQUEUE_INSERTED = (
    """
CREATE OR REPLACE FUNCTION runs_enqueue_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO run_queue (run_id, priority, run_after, created_at)
    SELECT id, priority, run_after, created_at FROM new_runs WHERE status = 'pending';
    RETURN NULL;
END $$""",
    """
CREATE TRIGGER runs_enqueue_inserted AFTER INSERT ON runs
    REFERENCING NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION runs_enqueue_inserted()""",
)

QUEUE_SYNC = (
    """
CREATE OR REPLACE FUNCTION runs_queue_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
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
END $$""",
    """
CREATE TRIGGER runs_queue_sync
    -- cancel_requested: the guard may change the status of an UPDATE that names only it,
    -- and a trigger on a column list fires only for the columns the UPDATE names.
    AFTER UPDATE OF status, cancel_requested, priority, run_after, lease_expires_at ON runs
    FOR EACH ROW WHEN (
        (NEW.status = 'pending' AND (OLD.status <> 'pending'
                                     OR NEW.priority <> OLD.priority
                                     OR NEW.run_after <> OLD.run_after))
        OR (OLD.status = 'pending' AND NEW.status NOT IN ('pending', 'running'))
        OR (OLD.status = 'running' AND NEW.status = 'running'
            AND NEW.lease_expires_at IS DISTINCT FROM OLD.lease_expires_at)
    )
    EXECUTE FUNCTION runs_queue_sync()""",
)

# Whoever may change runs (a worker's role, Node's) may change their queue rows, through the
# triggers and the queue's statements; whoever may read runs may read them. Copied from the
# grants of runs, so a deployment needs no new GRANT for this migration (README, Roles).
COPY_GRANTS = """
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN
        SELECT DISTINCT grantee, privilege_type
        FROM information_schema.role_table_grants
        WHERE table_schema = current_schema() AND table_name = 'runs'
          AND privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
          AND grantee <> current_user
    LOOP
        EXECUTE format('GRANT %s ON run_queue TO %I', g.privilege_type, g.grantee);
    END LOOP;
END $$
"""

RUNS_INDEXES = (
    "CREATE INDEX ix_runs_status ON runs (status)",
    "CREATE INDEX ix_runs_pending ON runs (priority DESC, run_after, created_at)"
    " WHERE status = 'pending'",
    "CREATE INDEX ix_runs_running_lease ON runs (lease_expires_at) WHERE status = 'running'",
)


def upgrade() -> None:
    # No run is inserted or changes status between the copy and the triggers.
    op.execute("LOCK TABLE runs IN SHARE ROW EXCLUSIVE MODE")
    for statement in (*CREATE_QUEUE, *ENQUEUE_INSERTED, *QUEUE_SYNC, COPY_GRANTS):
        op.execute(statement)
    op.execute("DROP INDEX ix_runs_status, ix_runs_pending, ix_runs_running_lease")
    op.execute("ALTER TABLE runs SET (fillfactor = 50)")
    op.execute(
        "ALTER TABLE run_queue SET ("
        " autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 200,"
        " autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 200)"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE runs SET (fillfactor = 90)")
    for statement in RUNS_INDEXES:
        op.execute(statement)
    op.execute("DROP TRIGGER runs_queue_sync ON runs")
    op.execute("DROP FUNCTION runs_queue_sync()")
    op.execute("DROP TRIGGER runs_enqueue_inserted ON runs")
    op.execute("DROP FUNCTION runs_enqueue_inserted()")
    op.execute("DROP TABLE run_queue")
