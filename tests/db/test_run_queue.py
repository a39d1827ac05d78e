"""run_queue (migration 0015) holds exactly the pending runs (unleased) and the running ones
(with their lease), whoever moves a run: Node's plain INSERT and cancel, the worker's claim,
heartbeat, completion, failure, retry, hand-back and reaper, and SQL that plays a worker."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import asyncpg

from tests.db.rows import insert_dataset, insert_run, insert_strategy
from tests.db.test_sweep_triggers import METRICS, WORKER
from tests.db.test_triggers import CLAIM
from worker.db.migrate import downgrade, upgrade
from worker.queue import queries
from worker.queue.handler import RunOutcome
from worker.queue.outcome import succeed

ERROR = {"type": "timeout", "message": "the run took too long", "detail": {}}


async def queue(conn: asyncpg.Connection) -> dict[uuid.UUID, datetime | None]:
    """{run id: lease} of run_queue, after checking it against runs."""
    rows = await conn.fetch(
        "SELECT r.id, r.status::text AS status, r.priority, r.run_after, r.lease_expires_at,"
        " q.run_id IS NOT NULL AS queued, q.priority AS q_priority, q.run_after AS q_run_after,"
        " q.lease_expires_at AS q_lease"
        " FROM runs AS r FULL JOIN run_queue AS q ON q.run_id = r.id"
    )
    for row in rows:
        assert row["id"] is not None, "a queue row without its run"
        assert row["queued"] == (row["status"] in ("pending", "running")), dict(row)
        if row["status"] == "pending":
            assert row["q_lease"] is None, dict(row)
            assert (row["q_priority"], row["q_run_after"]) == (row["priority"], row["run_after"])
        if row["status"] == "running":
            assert row["q_lease"] == row["lease_expires_at"] is not None, dict(row)
    return {row["id"]: row["q_lease"] for row in rows if row["queued"]}


async def claim(db: asyncpg.Connection, limit: int = 10) -> list[tuple[uuid.UUID, int]]:
    return [(job.id, job.attempt) for job in await queries.claim(db, WORKER, limit, 30.0)]


async def expire(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "UPDATE runs SET lease_expires_at = now() - interval '1 second' WHERE status = 'running'"
    )


async def test_a_run_inserted_by_plain_sql_is_queued_claimed_and_leaves_the_queue(
    conn: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    run_id = await insert_run(conn)
    assert await queue(conn) == {run_id: None}
    [(claimed, attempt)] = await claim(db)
    assert claimed == run_id
    assert (await queue(conn))[run_id] is not None
    row = succeed(RunOutcome(METRICS)).row
    assert await queries.complete(db, WORKER, [(run_id, attempt, row)]) == {run_id}
    assert await queue(conn) == {}


async def test_claim_order_is_priority_then_run_after(
    conn: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    dataset, strategy = await insert_dataset(conn), await insert_strategy(conn)
    low = await insert_run(conn, dataset, strategy)
    high = await insert_run(conn, dataset, strategy)
    later = await insert_run(conn, dataset, strategy)
    await conn.execute("UPDATE runs SET priority = 5 WHERE id = ANY ($1)", [high, later])
    await conn.execute("UPDATE runs SET run_after = now() + interval '1 hour' WHERE id = $1", later)
    await queue(conn)
    assert [run for run, _ in await claim(db, 1)] == [high]
    assert [run for run, _ in await claim(db, 5)] == [low]
    assert (await queries.next_run_after(db) or 0) > 3000


async def test_cancel_and_delete_of_a_pending_run_empty_the_queue(
    conn: asyncpg.Connection,
) -> None:
    dataset, strategy = await insert_dataset(conn), await insert_strategy(conn)
    cancelled = await insert_run(conn, dataset, strategy)
    deleted = await insert_run(conn, dataset, strategy)
    await conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", cancelled)
    await conn.execute("DELETE FROM runs WHERE id = $1", deleted)
    assert await queue(conn) == {}


async def test_retry_hand_back_and_failure_keep_the_queue_consistent(
    conn: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    dataset, strategy = await insert_dataset(conn), await insert_strategy(conn)
    runs = [await insert_run(conn, dataset, strategy) for _ in range(3)]
    held = dict(await claim(db))
    retried, handed, failed = runs
    assert await queries.retry(db, WORKER, [(retried, held[retried], ERROR, 60.0)]) == {retried}
    assert await queries.hand_back(db, WORKER, [(handed, held[handed])]) == {handed}
    assert await queries.fail(db, WORKER, [(failed, held[failed], ERROR)]) == {failed}
    assert await queue(conn) == {retried: None, handed: None}
    assert [run for run, _ in await claim(db)] == [handed]  # the retry waits out its delay


async def test_heartbeat_and_reaper_read_and_write_the_queue_lease(
    conn: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    dataset, strategy = await insert_dataset(conn), await insert_strategy(conn)
    again = await insert_run(conn, dataset, strategy)
    last = await insert_run(conn, dataset, strategy)
    await conn.execute("UPDATE runs SET max_attempts = 1 WHERE id = $1", last)
    held = await claim(db)
    before = await queue(conn)
    await asyncio.sleep(0.01)
    assert (await queries.heartbeat(db, WORKER, held, 60.0)).keys() == {again, last}
    after = await queue(conn)
    assert all(after[r] > before[r] for r in (again, last))  # type: ignore[operator]
    assert await queries.reap(db) == []
    await expire(conn)
    reaped = {r.id: r.status for r in await queries.reap(db)}
    assert reaped == {again: "pending", last: "failed"}
    assert await queue(conn) == {again: None}


async def test_a_run_taken_out_of_pending_by_other_sql_is_never_claimed_and_is_cleaned_up(
    conn: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    """SQL that plays a worker (the Node client's test double) claims and ends runs without
    the queue's statements: the claim leases the queue row it left, the reaper removes it."""
    dataset, strategy = await insert_dataset(conn), await insert_strategy(conn)
    taken = await insert_run(conn, dataset, strategy)
    other = await insert_run(conn, dataset, strategy)
    await conn.execute(CLAIM, taken)
    await conn.execute("UPDATE runs SET status = 'cancelled' WHERE id = $1", taken)
    assert [run for run, _ in await claim(db)] == [other]
    lease = await conn.fetchval("SELECT lease_expires_at FROM run_queue WHERE run_id = $1", taken)
    assert lease is not None
    await conn.execute(
        "UPDATE run_queue SET lease_expires_at = now() - interval '1 second' WHERE run_id = $1",
        taken,
    )
    assert await queries.reap(db) == []
    assert (await queue(conn)).keys() == {other}


async def test_downgrade_restores_the_indexes_of_runs_and_upgrade_refills_the_queue(
    empty_database_url: str,
) -> None:
    await asyncio.to_thread(upgrade, empty_database_url)
    conn = await asyncpg.connect(empty_database_url)
    try:
        dataset, strategy = await insert_dataset(conn), await insert_strategy(conn)
        pending = await insert_run(conn, dataset, strategy)
        running = await insert_run(conn, dataset, strategy)
        await conn.execute(CLAIM, running)
        await asyncio.to_thread(downgrade, empty_database_url, "0014")
        indexes = await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'runs'")
        names = {row["indexname"] for row in indexes}
        assert {"ix_runs_status", "ix_runs_pending", "ix_runs_running_lease"} <= names
        assert await conn.fetchval("SELECT to_regclass('run_queue')") is None
        await asyncio.to_thread(upgrade, empty_database_url)
        leases = await queue(conn)
        assert leases.keys() == {pending, running}
        assert leases[pending] is None and leases[running] is not None
    finally:
        await conn.close()


async def test_the_roles_that_may_change_runs_may_change_run_queue(empty_database_url: str) -> None:
    """A deployment's grants on runs (README, Roles) are copied to run_queue by 0015, so
    Node's INSERT (whose trigger writes run_queue) works without a new GRANT."""
    role = f"queue_test_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(upgrade, empty_database_url, "0014")
    conn = await asyncpg.connect(empty_database_url)
    try:
        await conn.execute(f"CREATE ROLE {role}")
        await conn.execute(f"GRANT SELECT, INSERT, UPDATE ON runs TO {role}")
        await asyncio.to_thread(upgrade, empty_database_url)
        granted = await conn.fetch(
            "SELECT privilege_type FROM information_schema.role_table_grants"
            " WHERE table_name = 'run_queue' AND grantee = $1",
            role,
        )
        assert {row["privilege_type"] for row in granted} == {"SELECT", "INSERT", "UPDATE"}
    finally:
        await conn.execute(f"DROP OWNED BY {role}")
        await conn.execute(f"DROP ROLE IF EXISTS {role}")
        await conn.close()
