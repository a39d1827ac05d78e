"""SIGTERM while PostgreSQL is down: the hand-back is retried within the grace period, lands
when the server is back, and the process exits; a restart costs one warning line, not a
traceback per reconnect attempt. A private cluster, since the shared server must not stop."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import asyncpg

from tests.private_pg import PrivateCluster, private_cluster  # noqa: F401
from tests.queue.helpers import WorkerProcess, event_types, insert_runs, run_row, wait_for
from worker.db.migrate import upgrade

FLOOR = "Failed to restore the pool connection floor"


async def _until(predicate: object, within: float = 60) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while not predicate():  # type: ignore[operator]
        if loop.time() > give_up:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def test_hand_back_is_retried_while_the_database_is_briefly_down(
    private_cluster: PrivateCluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    name = f"bt_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(private_cluster.url())
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = private_cluster.url(db=name)
    await asyncio.to_thread(upgrade, url)
    conn = await asyncpg.connect(url)
    runs = await insert_runs(conn, 2, config={"sleep": 120})
    worker = WorkerProcess(
        url, tmp_path, "--concurrency", "2", handler="tests.queue.handlers:sleep",
        shutdown_grace_seconds=5, lease_seconds=60,
    )  # fmt: skip
    try:
        await wait_for(conn, "SELECT count(*) = 2 FROM runs WHERE status = 'running'")
        await conn.close()
        await asyncio.to_thread(private_cluster.stop, "fast")
        worker.signal(signal.SIGTERM)
        await _until(lambda: worker.events("completion_write_retry"))
        await asyncio.to_thread(private_cluster.start)
        assert await worker.wait(within=60) == 0, worker.log_text()[-3000:]
    finally:
        worker.kill()
    conn = await asyncpg.connect(url)
    try:
        for run_id in runs:
            row = await run_row(conn, run_id)
            assert (row["status"], row["attempts"], row["locked_by"]) == ("pending", 0, None)
            assert (await event_types(conn, run_id))[-1] == "handed_back"
    finally:
        await conn.close()
    assert len(worker.events("run_handed_back")) == 2
    text = worker.log_text()
    assert "Traceback" not in text
    assert text.count(FLOOR) <= 1


async def test_the_process_exits_in_time_when_the_database_stays_down(
    private_cluster: PrivateCluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    url = private_cluster.url()
    await asyncio.to_thread(upgrade, url)
    conn = await asyncpg.connect(url)
    await insert_runs(conn, 1, config={"sleep": 120})
    # The lease is long: without the shutdown bound the completer would retry for all of it.
    worker = WorkerProcess(
        url, tmp_path, handler="tests.queue.handlers:sleep",
        shutdown_grace_seconds=2, lease_seconds=300,
    )  # fmt: skip
    try:
        await wait_for(conn, "SELECT count(*) = 1 FROM runs WHERE status = 'running'")
        await conn.close()
        await asyncio.to_thread(private_cluster.stop, "fast")
        worker.signal(signal.SIGTERM)
        assert await worker.wait(within=60) == 0, worker.log_text()[-3000:]
    finally:
        worker.kill()
    assert worker.events("completion_write_retry")
    assert worker.events("run_write_failed")
