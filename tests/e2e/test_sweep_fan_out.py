"""Sweeps through real worker processes and PostgreSQL: a grid fanned out to child runs by
one plain-SQL INSERT, drained by two workers, gives the result of the same grid in one run;
Node hears one run_completed for it and progress by finished combinations."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from tests.e2e.test_backtest_runs import HANDLER, SMA, add_dataset, add_run, add_strategy
from tests.queue.helpers import WorkerProcess

GRID = {"fast_period": [3, 5, 8, 10, 15, 25], "slow_period": [20, 30, 40, 60]}


class Notifications:
    """Every run_completed and run_progress payload, as a Node listener would get them."""

    def __init__(self) -> None:
        self.completed: list[dict[str, Any]] = []
        self.progress: list[dict[str, Any]] = []
        self._conn: asyncpg.Connection | None = None

    async def start(self, database_url: str) -> None:
        self._conn = await asyncpg.connect(database_url)
        await self._conn.add_listener("run_completed", self._on)
        await self._conn.add_listener("run_progress", self._on)

    def _on(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        (self.completed if channel == "run_completed" else self.progress).append(
            json.loads(payload)
        )

    async def stop(self) -> None:
        if self._conn is not None:
            await asyncio.sleep(0.2)  # the last notifications of the final commit
            await self._conn.close()


def workers(database_url: str, tmp_path: Path, count: int, *args: str) -> list[WorkerProcess]:
    return [
        WorkerProcess(
            database_url,
            tmp_path / "logs",
            *args,
            handler=HANDLER,
            artifact_dir=tmp_path / "artifacts",
            data_dir=tmp_path / "data",
            worker_concurrency=2,
        )
        for _ in range(count)
    ]


async def leaderboard(conn: asyncpg.Connection, run_id: uuid.UUID) -> str:
    path = await conn.fetchval(
        "SELECT storage_path FROM artifacts WHERE run_id = $1 AND filename = 'leaderboard.csv'",
        run_id,
    )
    return Path(path).read_text()


async def assert_same_result(
    conn: asyncpg.Connection, sweep_id: uuid.UUID, grid_id: uuid.UUID
) -> None:
    sweep = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", sweep_id)
    grid = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", grid_id)
    assert sweep["status"] == grid["status"] == "succeeded", (sweep["error"], grid["error"])
    assert json.loads(sweep["metrics"]) == json.loads(grid["metrics"])
    for column in ("final_value", "total_return", "sharpe_ratio", "total_trades"):
        assert sweep[column] == grid[column]
    sweep_meta, grid_meta = json.loads(sweep["metadata"]), json.loads(grid["metadata"])
    for key in ("best_params", "grid", "strategy", "dataset_hash", "engine_version"):
        assert sweep_meta[key] == grid_meta[key], key
    assert await leaderboard(conn, sweep_id) == await leaderboard(conn, grid_id)


async def test_a_sweep_drained_by_two_workers_equals_the_one_run_grid(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    heard = Notifications()
    await heard.start(database_url)
    sweep_id = await add_run(
        conn, dataset_id, strategy_id, {"grid": GRID, "sweep": {"chunk_size": 4}}
    )
    grid_id = await add_run(conn, dataset_id, strategy_id, {"grid": GRID})
    fleet = workers(database_url, tmp_path, 2, "--burst")
    for worker in fleet:
        assert await worker.wait(within=180) == 0, worker.log_text()[-3000:]
    await heard.stop()

    await assert_same_result(conn, sweep_id, grid_id)
    children = await conn.fetch(
        "SELECT status, priority, config, metadata FROM runs WHERE parent_id = $1", sweep_id
    )
    assert len(children) == 6 and {c["status"] for c in children} == {"succeeded"}
    indexes = sorted(json.loads(c["metadata"])["sweep"]["index"] for c in children)
    assert indexes == list(range(6))
    assert sum(json.loads(c["metadata"])["sweep"]["combinations"] for c in children) == 23
    assert all("sweep" not in json.loads(c["config"]) for c in children)
    assert (
        await conn.fetchval("SELECT count(*) FROM sweep_chunks WHERE parent_id = $1", sweep_id) == 6
    )
    claims = await conn.fetchval(
        "SELECT count(*) FROM events e JOIN runs r ON r.id = e.run_id"
        " WHERE r.parent_id = $1 AND e.event_type = 'claimed'",
        sweep_id,
    )
    assert claims == 6  # each child claimed once, by whichever worker was free

    # Node: one run_completed per top-level run, none for the children.
    assert sorted(str(n["run_id"]) for n in heard.completed) == sorted(
        [str(sweep_id), str(grid_id)]
    )
    sweep_progress = [p for p in heard.progress if p["run_id"] == str(sweep_id)]
    stages = [p for p in sweep_progress if p.get("stage") == "sweep"]
    # one per finished child, but children finished in one transaction (a completer's batch)
    # at the same share send one: PostgreSQL folds a transaction's identical notifications
    assert 1 <= len(stages) <= 6
    shares = [p["pct"] for p in stages]
    assert shares == sorted(shares) and shares[-1] == 100
    assert stages[-1]["combinations"] == stages[-1]["finished_combinations"] == 23
    child_ids = {
        str(r["id"]) for r in await conn.fetch("SELECT id FROM runs WHERE parent_id = $1", sweep_id)
    }
    assert not child_ids & {p["run_id"] for p in heard.progress}  # children send no progress
    events = dict(
        await conn.fetch(
            "SELECT event_type, count(*) FROM events WHERE run_id = $1 GROUP BY 1", sweep_id
        )
    )
    assert events["fanned_out"] == events["children_finished"] == events["completed"] == 1
    attempts = await conn.fetchval("SELECT attempts FROM runs WHERE id = $1", sweep_id)
    assert attempts == 1  # the split gave its attempt back


async def test_a_run_that_sets_sweep_chunk_itself_fails_before_it_computes(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    chunk = {"index": 0, "combinations": [{"fast_period": 3, "slow_period": 20}]}
    run_id = await add_run(conn, dataset_id, strategy_id, {"grid": GRID, "sweep_chunk": chunk})
    (worker,) = workers(database_url, tmp_path, 1, "--burst")
    assert await worker.wait(within=60) == 0, worker.log_text()[-3000:]
    row = await conn.fetchrow("SELECT status::text, error FROM runs WHERE id = $1", run_id)
    assert row["status"] == "failed"
    error = json.loads(row["error"])
    assert error["type"] == "invalid_config" and "children only" in error["message"]
    assert await conn.fetchval("SELECT count(*) FROM sweep_chunks") == 0
