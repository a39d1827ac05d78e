"""Overfitting statistics and walk-forward through a real worker and PostgreSQL: what lands in
`runs.metrics`, `runs.metadata` and the artifacts, and how a bad walk-forward fails."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from tests.e2e.test_backtest_runs import SMA, add_dataset, add_run, add_strategy, drain

GRID = {"fast_period": [5, 10, 20], "slow_period": [30, 60]}


async def test_grid_and_walk_forward_runs_store_their_statistics(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    grid_id = await add_run(conn, dataset_id, strategy_id, {"grid": GRID})
    wf_id = await add_run(
        conn, dataset_id, strategy_id, {"grid": GRID, "walk_forward": {"train": 200, "test": 100}}
    )
    bad_id = await add_run(
        conn, dataset_id, strategy_id, {"grid": GRID, "walk_forward": {"train": "1q", "test": 5}}
    )
    short_id = await add_run(
        conn, dataset_id, strategy_id, {"grid": GRID, "walk_forward": {"train": 400, "test": 50}}
    )
    await drain(database_url, tmp_path)

    grid = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", grid_id)
    assert grid["status"] == "succeeded", grid["error"]
    metrics = json.loads(grid["metrics"])
    for name in ("probabilistic_sharpe_ratio", "deflated_sharpe_ratio", "pbo"):
        assert metrics[name] is None or 0.0 <= metrics[name] <= 1.0, name
    assert metrics["pbo"] is not None
    overfitting = json.loads(grid["metadata"])["grid"]["overfitting"]
    assert overfitting["trials"] == 6 and overfitting["pbo_splits"] == 12870

    wf = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", wf_id)
    assert wf["status"] == "succeeded", wf["error"]
    summary = json.loads(wf["metadata"])["resolved_config"]["walk_forward_summary"]
    assert summary["folds"] == 2 and len(summary["fold_table"]) == 2
    assert json.loads(wf["metrics"])["bars"] == 200  # two test windows of 100 bars
    names = {
        r["filename"]
        for r in await conn.fetch("SELECT filename FROM artifacts WHERE run_id = $1", wf_id)
    }
    assert "report.html" in names and "leaderboard.csv" not in names

    for run_id, words in ((bad_id, "is not a bar count"), (short_id, "too few")):
        row = await conn.fetchrow("SELECT status, error FROM runs WHERE id = $1", run_id)
        error = json.loads(row["error"])
        assert row["status"] == "failed" and error["type"] == "invalid_config", error
        assert words in error["message"]
