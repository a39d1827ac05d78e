"""The README's least-privilege roles, run as written on a private cluster: the owner
migrates, a worker under the worker role serves a real backtest, and DDL, TEMP and writes
by the reader are refused."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import asyncpg
import pytest

from tests.e2e.test_backtest_runs import HANDLER, SMA, add_dataset, add_run, add_strategy
from tests.private_pg import SUPERUSER_PASSWORD, PrivateCluster, private_cluster  # noqa: F401
from tests.queue.helpers import ROOT, WorkerProcess
from worker.db.migrate import upgrade

BLOCK = re.compile(r"<!-- roles\.sql: .*?-->\n```sql\n(.*?)```", re.DOTALL)


def roles_sql() -> tuple[str, str]:
    """The README's block: what the superuser runs, and what the owner runs after migrate."""
    match = BLOCK.search((ROOT / "README.md").read_text())
    assert match, "README.md has no roles.sql block"
    before, after = match.group(1).split("-- Then", 1)
    return before, after.split("\n", 1)[1]


def psql(cluster: PrivateCluster, url: str, password: str, sql: str) -> None:
    result = subprocess.run(
        [shutil.which("psql") or str(cluster.bin_dir / "psql"), url, "-v", "ON_ERROR_STOP=1", "-q", "-f", "-"],
        input=sql, text=True, capture_output=True, timeout=60,
        env={"PGPASSWORD": password, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


async def test_a_worker_under_the_worker_role_serves_runs_and_cannot_change_the_schema(
    private_cluster: PrivateCluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    setup, grants = roles_sql()
    psql(private_cluster, private_cluster.url(), SUPERUSER_PASSWORD, setup)
    owner = private_cluster.url("backtest_owner", "change-me-owner", "aitradepro")
    worker_url = private_cluster.url("backtest_worker", "change-me-worker", "aitradepro")
    reader_url = private_cluster.url("backtest_reader", "change-me-reader", "aitradepro")
    await asyncio.to_thread(upgrade, owner)
    psql(private_cluster, owner, "change-me-owner", grants)

    conn = await asyncpg.connect(worker_url)
    try:
        dataset = await add_dataset(conn, tmp_path / "data")
        run_id = await add_run(conn, dataset, await add_strategy(conn, SMA))
        worker = WorkerProcess(
            worker_url, tmp_path / "logs", "--burst", handler=HANDLER,
            artifact_dir=tmp_path / "artifacts", data_dir=tmp_path / "data",
        )  # fmt: skip
        assert await worker.wait(within=180) == 0, worker.log_text()[-3000:]
        row = await conn.fetchrow("SELECT status::text, error FROM runs WHERE id = $1", run_id)
        assert row["status"] == "succeeded", row["error"]
        for ddl in (
            "CREATE TABLE intruder (i int)",
            "CREATE TEMP TABLE intruder (i int)",
            "ALTER TABLE runs ADD COLUMN intruder int",
            "DROP TABLE events",
            "TRUNCATE events",
            "CREATE SCHEMA intruder",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(ddl)
    finally:
        await conn.close()

    reader = await asyncpg.connect(reader_url)
    try:
        assert await reader.fetchval("SELECT count(*) FROM runs WHERE status = 'succeeded'") == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await reader.execute("UPDATE runs SET cancel_requested = true")
    finally:
        await reader.close()
