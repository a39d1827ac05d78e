"""A sweep's lifecycle as the database enforces it, through the worker's own statements:
the fan-in happens once however the children's completions interleave (the parent's row
lock), a failed child fails the sweep with its error, cancelling the parent cancels its
children (without waiting on a locked one), and only the parent sends run_completed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.db.connections import worker_connection
from tests.db.rows import insert_run
from tests.db.test_triggers import CLAIM, Listener
from worker.queue import queries
from worker.queue.handler import ChildRun, RunOutcome
from worker.queue.outcome import succeed

WORKER = "test-worker"
METRICS = {
    "final_value": 10_500.0,
    "total_return": 0.05,
    "sharpe_ratio": 1.2,
    "max_drawdown": -0.1,
    "win_rate": 0.5,
    "total_trades": 2,
    "winning_trades": 1,
    "losing_trades": 1,
}


@pytest.fixture
async def other(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await worker_connection(database_url)
    yield connection
    await connection.close()


@pytest.fixture
async def listener(database_url: str) -> AsyncIterator[Listener]:
    connection = await asyncpg.connect(database_url)
    yield Listener(connection)
    await connection.close()


async def sweep(
    conn: asyncpg.Connection, db: asyncpg.Connection, children: int
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A parent fanned out by the worker's statement, its children in chunk order."""
    parent = await insert_run(conn)
    await conn.execute(CLAIM, parent)
    kids = [ChildRun(json.dumps({"index": i}), i, 3 + i) for i in range(children)]
    written = await queries.fan_out(db, WORKER, [(parent, 1, kids)])
    assert written == {parent}
    ids = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM runs WHERE parent_id = $1 ORDER BY (metadata #>> '{sweep,index}')::int",
            parent,
        )
    ]
    return parent, ids


async def claim(conn: asyncpg.Connection, run_id: uuid.UUID) -> None:
    await conn.execute(CLAIM.replace("'test-worker'", f"'{WORKER}'"), run_id)


async def complete(db: asyncpg.Connection, run_id: uuid.UUID) -> set[uuid.UUID]:
    return await queries.complete(db, WORKER, [(run_id, 1, succeed(RunOutcome(METRICS)).row)])


async def status(conn: asyncpg.Connection, run_id: uuid.UUID) -> str:
    return await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", run_id)  # type: ignore[no-any-return]


async def test_fan_out_parks_the_parent_and_inserts_its_children_in_one_statement(
    conn: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    parent, children = await sweep(conn, db, 3)
    row = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", parent)
    assert row["status"] == "waiting" and row["locked_by"] is None
    assert row["lease_expires_at"] is None and row["attempts"] == 0
    rows = await conn.fetch("SELECT * FROM runs WHERE parent_id = $1", parent)
    assert len(rows) == len(children) == 3
    assert {r["status"] for r in rows} == {"pending"}
    assert {r["dataset_id"] for r in rows} == {row["dataset_id"]}
    # neither the claim nor the reaper touches a waiting run
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM runs WHERE status = 'pending' AND parent_id IS NULL"
        )
        == 0
    )


async def test_two_concurrent_last_completions_fan_in_exactly_once(
    conn: asyncpg.Connection,
    db: asyncpg.Connection,
    other: asyncpg.Connection,
    listener: Listener,
) -> None:
    parent, (first, second) = await sweep(conn, db, 2)
    for child in (first, second):
        await claim(conn, child)
    await listener.listen("run_completed")
    async with db.transaction():
        assert await complete(db, first) == {first}  # holds the parent's row lock now
        blocked = asyncio.create_task(_complete_in_transaction(other, second))
        pid = other.get_server_pid()
        for _ in range(500):
            waiting = await conn.fetchval(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid
            )
            if waiting == "Lock":
                break
            await asyncio.sleep(0.02)
        assert waiting == "Lock"  # the second completion waits for the parent's row lock
        assert not blocked.done()
        assert await status(conn, parent) == "waiting"  # one child still running
    assert await blocked == {second}
    assert await status(conn, parent) == "pending"
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM events WHERE run_id = $1 AND event_type = 'children_finished'",
            parent,
        )
        == 1
    )
    progress = json.loads(await conn.fetchval("SELECT progress FROM runs WHERE id = $1", parent))
    assert progress["pct"] == 100 and progress["combinations"] == 7
    assert await listener.nothing_within(0.3)  # children send no run_completed


async def _complete_in_transaction(db: asyncpg.Connection, run_id: uuid.UUID) -> set[uuid.UUID]:
    async with db.transaction():
        return await complete(db, run_id)


async def test_a_failed_child_fails_the_sweep_with_its_error_and_cancels_the_others(
    conn: asyncpg.Connection, db: asyncpg.Connection, listener: Listener
) -> None:
    parent, (failing, running, pending) = await sweep(conn, db, 3)
    await claim(conn, failing)
    await claim(conn, running)
    await listener.listen("run_completed")
    cancels = Listener(await asyncpg.connect(_dsn(conn)))
    await cancels.listen("run_cancel")
    error = {
        "type": "dataset_missing",
        "message": "the dataset file x does not exist",
        "detail": {},
    }
    assert await queries.fail(db, WORKER, [(failing, 1, error)]) == {failing}
    row = await conn.fetchrow("SELECT status::text, error FROM runs WHERE id = $1", parent)
    assert row["status"] == "failed"
    parent_error = json.loads(row["error"])
    assert parent_error["type"] == "dataset_missing"
    assert "the dataset file x does not exist" in parent_error["message"]
    assert parent_error["detail"]["child_run_id"] == str(failing)
    assert await status(conn, pending) == "cancelled"
    assert await conn.fetchval("SELECT cancel_requested FROM runs WHERE id = $1", running)
    assert await cancels.next() == str(running)
    await cancels.connection.close()
    heard = json.loads(await listener.next())
    assert heard["run_id"] == str(parent) and heard["status"] == "failed"
    assert await listener.nothing_within(0.3)


def _dsn(conn: asyncpg.Connection) -> str:
    params = conn._params
    host, port = conn._addr
    return f"postgresql://{params.user}@{host}:{port}/{params.database}"


async def test_cancelling_the_parent_cancels_its_children_without_waiting_on_a_locked_one(
    conn: asyncpg.Connection,
    db: asyncpg.Connection,
    other: asyncpg.Connection,
    listener: Listener,
) -> None:
    parent, (pending, running, busy) = await sweep(conn, db, 3)
    await claim(conn, running)
    await claim(conn, busy)
    await listener.listen("run_completed")
    async with other.transaction():  # a heartbeat of busy's worker, mid-statement
        await other.execute("SELECT 1 FROM runs WHERE id = $1 FOR NO KEY UPDATE", busy)
        await conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", parent)
    assert await status(conn, parent) == "cancelled"
    assert await status(conn, pending) == "cancelled"
    assert await conn.fetchval("SELECT cancel_requested FROM runs WHERE id = $1", running)
    assert not await conn.fetchval("SELECT cancel_requested FROM runs WHERE id = $1", busy)
    # the skipped child is told at its worker's next heartbeat
    alive = await queries.heartbeat(db, WORKER, [(busy, 1), (running, 1)], 30)
    assert alive == {busy: True, running: True}
    assert await queries.cancel(db, WORKER, [(busy, 1), (running, 1)]) == {busy, running}
    heard = [json.loads(await listener.next())]
    assert heard[0]["run_id"] == str(parent) and heard[0]["status"] == "cancelled"
    assert await listener.nothing_within(0.3)
    assert await status(conn, parent) == "cancelled"


async def test_a_child_cancelled_alone_cancels_the_sweep(
    conn: asyncpg.Connection, db: asyncpg.Connection
) -> None:
    parent, (lone, other_child) = await sweep(conn, db, 2)
    await conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", lone)
    assert await status(conn, parent) == "cancelled"
    assert await status(conn, other_child) == "cancelled"
