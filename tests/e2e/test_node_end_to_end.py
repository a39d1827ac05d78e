"""Node.js and Python together: a real worker process serves runs that a real Node.js script
(clients/node, over the `pg` package) enqueues, follows through LISTEN and reads back."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.e2e.test_backtest_runs import SMA, add_dataset, add_strategy
from tests.queue.helpers import WorkerProcess

CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "node"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed (Node.js >= 18 is needed)"),
    pytest.mark.skipif(
        not (CLIENT_DIR / "node_modules" / "pg").is_dir(),
        reason=f"the Node.js client's dependencies are not installed: run `npm ci` in {CLIENT_DIR}",
    ),
]


async def node_enqueue_and_wait(
    database_url: str, dataset_id: object, strategy_id: object, config: dict[str, Any]
) -> tuple[int, list[str], dict[str, Any]]:
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        "examples/enqueue-and-wait.js",
        str(dataset_id),
        str(strategy_id),
        json.dumps(config),
        cwd=CLIENT_DIR,
        env={**os.environ, "DATABASE_URL": database_url, "TIMEOUT_MS": "120000"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 180)
    lines = out.decode().strip().splitlines()
    assert lines, err.decode()
    return process.returncode or 0, lines, json.loads(lines[-1])


async def test_node_enqueues_follows_and_reads_a_real_run(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    # A long safety poll: the worker can only learn of Node's INSERT through runs_pending.
    worker = WorkerProcess(
        database_url,
        tmp_path / "logs",
        handler="worker.pipeline.runner:execute_run",
        artifact_dir=tmp_path / "artifacts",
        data_dir=tmp_path / "data",
        poll_interval_seconds=600,
    )
    try:
        # A grid of 3,800 combinations: long enough (seconds) to report progress, which a
        # run sends from a quarter of a second on.
        grid = {"fast_period": list(range(2, 40)), "slow_period": list(range(41, 141))}
        code, lines, run = await node_enqueue_and_wait(
            database_url, dataset_id, strategy_id, {"commission": 0.001, "grid": grid}
        )
        assert code == 0, lines
        assert lines[0].startswith("enqueued ")
        progress = [line.split() for line in lines if line.startswith("progress ")]
        assert progress, lines
        assert all(0 <= float(pct) <= 100 for _, _, pct in progress)
        assert run["status"] == "succeeded"
        assert run["id"] == lines[0].split()[1]
        row = await conn.fetchrow("SELECT * FROM runs WHERE id = $1::uuid", run["id"])
        assert run["metrics"]["totalTrades"] == row["total_trades"] > 0
        assert run["metrics"]["totalReturn"] == pytest.approx(float(row["total_return"]))
        assert run["metrics"]["finalValue"] == str(row["final_value"])
        assert {a["filename"] for a in run["artifacts"]} >= {"report.html", "report.json"}
        for artifact in run["artifacts"]:
            assert Path(artifact["storagePath"]).stat().st_size == artifact["sizeBytes"]

        code, lines, failed = await node_enqueue_and_wait(
            database_url, dataset_id, strategy_id, {"params": {"fast_period": 90}}
        )
        assert code == 2, lines
        assert failed["status"] == "failed"
        assert failed["error"]["type"] == "invalid_params"
        assert "fast_period must be less than slow_period" in failed["error"]["message"]
    finally:
        worker.signal(signal.SIGTERM)
        assert await worker.wait() == 0, worker.log_text()[-3000:]
