"""`backtest-worker status`: runs by status, oldest pending age, lease holders."""

from __future__ import annotations

import asyncio
import json
import subprocess

import asyncpg

from tests.queue.helpers import BIN, ROOT, insert_runs, worker_env
from worker.db import pools
from worker.queue import queries


def status(
    database_url: str, *args: str, columns: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = worker_env(database_url)
    env.pop("COLUMNS", None)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [str(BIN), "status", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_status_reports_counts_age_and_lease_holders(
    conn: asyncpg.Connection, database_url: str
) -> None:
    await insert_runs(conn, 3)
    await conn.execute("UPDATE runs SET created_at = now() - interval '90 seconds'")
    await pools.setup_connection(conn)
    await queries.claim(conn, "host-a:1:abcdef", 1, 30)

    result = await asyncio.to_thread(status, database_url, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["runs"] == {
        "pending": 2,
        "running": 1,
        "waiting": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert data["runnable"] == 2
    assert data["oldest_pending_age_seconds"] >= 90
    [holder] = data["workers"]
    assert holder["worker_id"] == "host-a:1:abcdef"
    assert holder["runs"] == 1
    assert holder["lease_expired"] is False

    table = await asyncio.to_thread(status, database_url)
    assert table.returncode == 0, table.stderr
    assert "host-a:1:abcdef" in table.stdout
    assert "pending" in table.stdout
    narrow = await asyncio.to_thread(status, database_url, columns=80)
    assert narrow.returncode == 0, narrow.stderr
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80, narrow.stdout
    assert "host-a:1:abcdef" in narrow.stdout and "…" not in narrow.stdout


def test_status_without_database_url_is_one_clear_line() -> None:
    env = worker_env("postgresql://x@127.0.0.1:1/db")
    env.pop("DATABASE_URL")
    result = subprocess.run(
        [str(BIN), "status"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
