"""A walk-forward sweep through real worker processes and PostgreSQL: one plain-SQL INSERT
fans each fold's train window (and the out-of-sample span) out as chunks to child runs, two
workers drain them, and the parent's result equals the same walk-forward as one run; Node
hears one run_completed for it and progress by finished work. A child of a worker killed
with `kill -9` is retried like any run and the result is still the one run's; cancelling
the parent stops its children; too few bars fail it at the split."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import polars as pl

from tests.e2e.test_backtest_runs import SMA, add_dataset, add_run, add_strategy
from tests.e2e.test_sweep_fan_out import GRID, Notifications, workers
from tests.e2e.test_sweep_faults import add_long_dataset, insert, running_children

WALK_FORWARD = {"train": 100, "test": 50}  # 400 bars: 6 folds, tests at 100, 150, …, 350


async def artifact(conn: asyncpg.Connection, run_id: uuid.UUID, filename: str) -> Path:
    path = await conn.fetchval(
        "SELECT storage_path FROM artifacts WHERE run_id = $1 AND filename = $2",
        run_id,
        filename,
    )
    assert path is not None, filename
    return Path(path)


def without_sweep(resolved: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resolved.items() if k != "sweep"}


async def assert_same_walk_forward(
    conn: asyncpg.Connection, sweep_id: uuid.UUID, one_id: uuid.UUID
) -> None:
    sweep = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", sweep_id)
    one = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", one_id)
    assert sweep["status"] == one["status"] == "succeeded", (sweep["error"], one["error"])
    assert json.loads(sweep["metrics"]) == json.loads(one["metrics"])
    for column in ("final_value", "total_return", "sharpe_ratio", "max_drawdown", "total_trades"):
        assert sweep[column] == one[column], column
    sweep_meta, one_meta = json.loads(sweep["metadata"]), json.loads(one["metadata"])
    for key in ("best_params", "strategy", "dataset_hash", "engine_version"):
        assert sweep_meta[key] == one_meta[key], key
    assert without_sweep(sweep_meta["resolved_config"]) == without_sweep(
        one_meta["resolved_config"]
    )  # the walk-forward summary: per-fold best parameters, degradation, fold table
    for filename in ("trades.csv",):
        sweep_file = (await artifact(conn, sweep_id, filename)).read_bytes()
        assert sweep_file == (await artifact(conn, one_id, filename)).read_bytes()
    sweep_equity = pl.read_parquet(await artifact(conn, sweep_id, "equity.parquet"))
    assert sweep_equity.equals(pl.read_parquet(await artifact(conn, one_id, "equity.parquet")))
    sweep_report = json.loads((await artifact(conn, sweep_id, "report.json")).read_text())
    one_report = json.loads((await artifact(conn, one_id, "report.json")).read_text())
    for key in ("metrics", "walk_forward", "best_params", "buy_and_hold", "drawdown_periods"):
        assert sweep_report[key] == one_report[key], key


async def test_a_walk_forward_sweep_on_two_workers_equals_the_one_run(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    heard = Notifications()
    await heard.start(database_url)
    config = {"commission": 0.001, "grid": GRID, "walk_forward": WALK_FORWARD}
    sweep_id = await add_run(conn, dataset_id, strategy_id, {**config, "sweep": {"chunk_size": 8}})
    one_id = await add_run(conn, dataset_id, strategy_id, config)
    fleet = workers(database_url, tmp_path, 2, "--burst")
    for worker in fleet:
        assert await worker.wait(within=240) == 0, worker.log_text()[-3000:]
    await heard.stop()

    await assert_same_walk_forward(conn, sweep_id, one_id)
    children = await conn.fetch(
        "SELECT status::text, config, metadata FROM runs WHERE parent_id = $1"
        " ORDER BY (metadata #>> '{sweep,index}')::int",
        sweep_id,
    )
    # 7 windows (6 folds' train windows and the out-of-sample span) × 3 chunks of 23
    assert len(children) == 21 and {c["status"] for c in children} == {"succeeded"}
    windows = [json.loads(c["config"])["sweep_chunk"]["window"] for c in children]
    assert [w["fold"] for w in windows] == [f for f in [1, 2, 3, 4, 5, 6, None] for _ in range(3)]
    assert all("walk_forward" not in json.loads(c["config"]) for c in children)
    combinations = [json.loads(c["metadata"])["sweep"]["combinations"] for c in children]
    assert combinations == [8, 8, 7] * 7
    claims = await conn.fetchval(
        "SELECT count(*) FROM events e JOIN runs r ON r.id = e.run_id"
        " WHERE r.parent_id = $1 AND e.event_type = 'claimed'",
        sweep_id,
    )
    assert claims == 21  # each child claimed once, by whichever worker was free
    summary = json.loads(await conn.fetchval("SELECT metadata FROM runs WHERE id = $1", sweep_id))
    folds = summary["resolved_config"]["walk_forward_summary"]["fold_table"]
    assert len(folds) == 6 and all(f["params"] for f in folds)

    # Node: one run_completed per top-level run, none for the children.
    assert sorted(n["run_id"] for n in heard.completed) == sorted([str(sweep_id), str(one_id)])
    stages = [p for p in heard.progress if p["run_id"] == str(sweep_id) and p["stage"] == "sweep"]
    assert 1 <= len(stages) <= 21
    shares = [p["pct"] for p in stages]
    assert shares == sorted(shares) and shares[-1] == 100
    assert stages[-1]["combinations"] == stages[-1]["finished_combinations"] == 23 * 7
    events = dict(
        await conn.fetch(
            "SELECT event_type, count(*) FROM events WHERE run_id = $1 GROUP BY 1", sweep_id
        )
    )
    assert events["fanned_out"] == events["children_finished"] == events["completed"] == 1
    assert await conn.fetchval("SELECT attempts FROM runs WHERE id = $1", sweep_id) == 1


async def test_a_walk_forward_sweep_with_too_few_bars_fails_at_the_split(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    config = {"grid": GRID, "walk_forward": {"train": 500, "test": 50}, "sweep": {"chunk_size": 8}}
    sweep_id = await add_run(conn, dataset_id, strategy_id, config)
    (worker,) = workers(database_url, tmp_path, 1, "--burst")
    assert await worker.wait(within=120) == 0, worker.log_text()[-3000:]
    row = await conn.fetchrow("SELECT status::text, error FROM runs WHERE id = $1", sweep_id)
    assert row["status"] == "failed"
    error = json.loads(row["error"])
    assert error["type"] == "invalid_config" and "too few" in error["message"]
    assert await conn.fetchval("SELECT count(*) FROM runs WHERE parent_id = $1", sweep_id) == 0


async def test_cancelling_a_walk_forward_sweep_stops_its_children(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_long_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    heard = Notifications()
    await heard.start(database_url)
    config = {
        "grid": GRID,
        "walk_forward": {"train": 5_000, "test": 2_500},
        "sweep": {"chunk_size": 3},
    }
    sweep_id = await insert(conn, dataset_id, strategy_id, config)
    (worker,) = workers(database_url, tmp_path, 1, "--burst")
    try:
        await running_children(conn, sweep_id)
        await conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", sweep_id)
        assert await worker.wait(within=120) == 0, worker.log_text()[-3000:]
    finally:
        worker.kill()
    await heard.stop()
    assert (
        await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", sweep_id) == "cancelled"
    )
    states = dict(
        await conn.fetch(
            "SELECT status::text, count(*) FROM runs WHERE parent_id = $1 GROUP BY 1", sweep_id
        )
    )
    assert "pending" not in states and "running" not in states
    assert states.get("cancelled", 0) >= 1
    assert [n["run_id"] for n in heard.completed] == [str(sweep_id)]


async def test_kill_9_mid_walk_forward_sweep_retries_the_child_and_gives_the_one_run(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_long_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    config = {"grid": GRID, "walk_forward": {"train": 6_000, "test": 4_000}}
    sweep_id = await insert(conn, dataset_id, strategy_id, {**config, "sweep": {"chunk_size": 6}})
    (doomed,) = workers(database_url, tmp_path, 1)
    try:
        await running_children(conn, sweep_id)
        doomed.proc.kill()  # SIGKILL: no hand-back, no goodbye
        doomed.proc.wait()
    finally:
        doomed.kill()
    orphans = await conn.fetch(
        "SELECT id, attempts FROM runs WHERE parent_id = $1 AND status = 'running'", sweep_id
    )
    assert orphans, "the killed worker held no child (it finished them all first)"
    one_id = await insert(conn, dataset_id, strategy_id, config)
    survivors = workers(database_url, tmp_path, 2, "--burst")
    for worker in survivors:
        assert await worker.wait(within=300) == 0, worker.log_text()[-3000:]

    await assert_same_walk_forward(conn, sweep_id, one_id)
    for orphan in orphans:
        row = await conn.fetchrow(
            "SELECT status::text, attempts FROM runs WHERE id = $1", orphan["id"]
        )
        assert row["status"] == "succeeded" and row["attempts"] == orphan["attempts"] + 1
    counts = dict(
        await conn.fetch(
            "SELECT event_type, count(*) FROM events WHERE run_id = $1 GROUP BY 1", sweep_id
        )
    )
    assert counts["fanned_out"] == counts["children_finished"] == counts["completed"] == 1
