"""Statements that update several running rows lock them in id order.

The heartbeat and a completion batch of the same worker update overlapping rows from two
connections; if each locked them in its own order (the order its plan happened to visit
them), each could hold a row the other waits for: a deadlock, one statement aborted. Locking
in id order rules that out. The check needs no timing: while another session holds the
lowest id, a statement waiting for it must hold no other row.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
import structlog

from tests.queue import handlers
from tests.queue.helpers import insert_runs
from worker.db import pools
from worker.queue import queries
from worker.queue.completer import Completer
from worker.queue.handler import RunJob
from worker.queue.outcome import succeed

A = "host-a:1:aaaaaa"
RUNS = 20

Statement = Callable[[asyncpg.Connection, list[RunJob]], Awaitable[Any]]


async def _heartbeat(db: asyncpg.Connection, jobs: list[RunJob]) -> Any:
    return await queries.heartbeat(db, A, [(j.id, j.attempt) for j in jobs], 60)


async def _complete(db: asyncpg.Connection, jobs: list[RunJob]) -> Any:
    items = [(job.id, job.attempt, succeed(handlers.outcome(job)).row) for job in jobs]
    return await queries.complete(db, A, items)


async def _hand_back(db: asyncpg.Connection, jobs: list[RunJob]) -> Any:
    return await queries.hand_back(db, A, [(j.id, j.attempt) for j in jobs])


async def _waiting_for_a_lock(observer: asyncpg.Connection, pid: int) -> None:
    """Until the backend `pid` waits for a row lock (no assertion on how long that takes)."""
    for _ in range(3000):
        state = await observer.fetchval(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid
        )
        if state == "Lock":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the statement never waited for the locked row")


@pytest.mark.parametrize(
    "statement", [_heartbeat, _complete, _hand_back], ids=["heartbeat", "complete", "hand_back"]
)
async def test_a_statement_waiting_for_the_lowest_id_holds_no_other_row(
    database_url: str, statement: Statement
) -> None:
    holder = await asyncpg.connect(database_url)
    worker = await asyncpg.connect(database_url)
    try:
        await pools.setup_connection(worker)
        await insert_runs(worker, RUNS)
        jobs = await queries.claim(worker, A, RUNS, 60)
        assert len(jobs) == RUNS
        ids = sorted(job.id for job in jobs)
        lowest, others = ids[0], ids[1:]
        # Given in an order that is neither the ids' nor the table's.
        jobs.sort(key=lambda job: uuid.uuid5(uuid.NAMESPACE_OID, str(job.id)))

        holding = holder.transaction()
        await holding.start()
        await holder.execute("SELECT 1 FROM runs WHERE id = $1 FOR UPDATE", lowest)
        pid = worker.get_server_pid()
        running = asyncio.create_task(statement(worker, jobs))
        try:
            await _waiting_for_a_lock(holder, pid)
            # Every other row is free: the waiting statement took none of them before.
            try:
                locked = await holder.fetch(
                    "SELECT id FROM runs WHERE id = ANY ($1::uuid[]) FOR UPDATE NOWAIT", others
                )
            except asyncpg.LockNotAvailableError:
                pytest.fail("the statement locked a higher id before waiting for the lowest")
            assert len(locked) == len(others)
        finally:
            await holding.rollback()
        result = await running
        assert len(result) == RUNS
    finally:
        await holder.close()
        await worker.close()


async def test_completions_written_by_several_flushers_all_land(database_url: str) -> None:
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=4, init=pools.setup_connection
    )
    assert pool is not None
    try:
        async with pool.acquire() as db:
            await insert_runs(db, RUNS)
            jobs = await queries.claim(db, A, RUNS, 60)
        completer = Completer(pool, A, retry_for_seconds=5, flushes=3, log=structlog.get_logger())
        completer.start()
        first = [completer.write(j, succeed(handlers.outcome(j))) for j in jobs[:5]]
        written = await asyncio.gather(*first)
        rest = [completer.write(j, succeed(handlers.outcome(j))) for j in jobs[5:]]
        written += await asyncio.gather(*rest)
        await completer.stop()
        assert written == [True] * RUNS
        async with pool.acquire() as db:
            statuses = await db.fetch("SELECT status::text AS s, count(*) FROM runs GROUP BY 1")
            events = await db.fetchval("SELECT count(*) FROM events WHERE event_type = 'completed'")
        assert [(row["s"], row["count"]) for row in statuses] == [("succeeded", RUNS)]
        assert events == RUNS
    finally:
        await pool.close()
