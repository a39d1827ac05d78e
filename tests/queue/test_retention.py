"""Retention: `prune --older-than`, and RETENTION_DAYS run by one worker at a time (an
advisory lock), which also removes empty artifact folders."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import asyncpg

from tests.queue.helpers import BIN, ROOT, WorkerProcess, insert_runs, wait_for, worker_env
from tests.queue.test_fleet_ops import free_port, get, samples, wait_http
from worker.queue.retention import RETENTION_LOCK


def prune(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = worker_env(database_url, artifact_dir=tmp_path / "artifacts")
    return subprocess.run(
        [str(BIN), "prune", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


async def age(conn: asyncpg.Connection, ids: list[object], days: int, status: str) -> None:
    await conn.execute(
        "UPDATE runs SET status = $3::run_status, finished_at = now(), "
        "created_at = now() - make_interval(days => $2) WHERE id = ANY($1)",
        ids,
        days,
        status,
    )


def old_folder(path: Path) -> Path:
    """`<orphan>/<attempt>/`, both empty and untouched for two hours."""
    path.mkdir(parents=True)
    stamp = time.time() - 2 * 3600
    for folder in (path, path.parent):
        os.utime(folder, (stamp, stamp))
    return path


async def test_prune_older_than_a_duration(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    old = await insert_runs(conn, 2)
    young = await insert_runs(conn, 1)
    pending = await insert_runs(conn, 1)
    await age(conn, old, 40, "cancelled")
    await age(conn, young, 10, "cancelled")
    await conn.execute(
        "UPDATE runs SET created_at = now() - interval '90 days' WHERE id = $1", pending[0]
    )
    (tmp_path / "artifacts" / str(old[0])).mkdir(parents=True)
    (tmp_path / "artifacts" / str(old[0]) / "report.html").write_text("x")
    empty = old_folder(tmp_path / "artifacts" / "left-empty" / "attempt-1")

    done = await asyncio.to_thread(prune, database_url, tmp_path, "--older-than", "30d")
    assert done.returncode == 0, done.stderr
    assert "deleted 2 runs and 1 artifact files" in done.stdout
    left = {r["id"] for r in await conn.fetch("SELECT id FROM runs")}
    assert left == {young[0], pending[0]}
    assert not (tmp_path / "artifacts" / str(old[0])).exists()
    assert not empty.exists() and not empty.parent.exists()

    bad = await asyncio.to_thread(prune, database_url, tmp_path, "--older-than", "30 days")
    assert bad.returncode == 2 and "not a duration such as 30d" in bad.stderr
    neither = await asyncio.to_thread(prune, database_url, tmp_path)
    assert neither.returncode == 2 and "--older-than" in neither.stderr


async def test_retention_days_prunes_under_an_advisory_lock(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    old = await insert_runs(conn, 7)
    young = await insert_runs(conn, 2)
    await age(conn, old, 40, "failed")
    await age(conn, young, 1, "failed")
    artifacts = tmp_path / "artifacts"
    for run_id in old:
        (artifacts / str(run_id)).mkdir(parents=True)
        (artifacts / str(run_id) / "report.html").write_text("x")
    empty = old_folder(artifacts / "orphan" / "attempt-1")
    recent_empty = artifacts / "just-made"
    recent_empty.mkdir()

    holder = await asyncpg.connect(database_url)
    assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK)
    ports = [free_port(), free_port()]
    workers = [
        WorkerProcess(
            database_url,
            tmp_path,
            metrics_port=port,
            retention_days=30,
            retention_interval_seconds=0.1,
            poll_interval_seconds=0.2,
            artifact_dir=artifacts,
        )
        for port in ports
    ]
    try:
        for port in ports:
            await wait_http(port, "/healthz")

        async def claims() -> float:
            total = 0.0
            for port in ports:
                total += samples((await get(port, "/metrics")).text)[
                    ("backtest_claim_duration_seconds_count", ())
                ]
            return total

        seen = await claims()
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 30
        while await claims() < seen + 6:  # many retention ticks pass meanwhile
            assert loop.time() < give_up
            await asyncio.sleep(0.1)
        assert await conn.fetchval("SELECT count(*) FROM runs") == 9, "pruned without the lock"
        await holder.close()  # releases the lock

        await wait_for(conn, "SELECT count(*) = 2 FROM runs")
        left = {r["id"] for r in await conn.fetch("SELECT id FROM runs")}
        assert left == set(young)
        give_up = loop.time() + 30
        while empty.parent.exists() or any((artifacts / str(r)).exists() for r in old):
            assert loop.time() < give_up, "retention left files or empty folders"
            await asyncio.sleep(0.1)
        assert recent_empty.exists(), "a folder made just now may be about to hold a run's files"
        deleted = [
            samples((await get(port, "/metrics")).text)[
                ("backtest_retention_runs_deleted_total", ())
            ]
            for port in ports
        ]
        assert sum(deleted) == 7
    finally:
        if not holder.is_closed():
            await holder.close()
        for worker in workers:
            worker.signal(signal.SIGTERM)
        codes = [await worker.wait() for worker in workers]
    assert codes == [0, 0]
