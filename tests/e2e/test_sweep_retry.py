"""Retrying a failed sweep through real workers and the CLI: a child fails for good (its
dataset file is missing when it runs), the sweep fails with that child's error; once the
file is back, `backtest-worker retry` runs the failed and cancelled children again and the
sweep succeeds with the one-run grid's result. Node hears one run_completed per final state
of the sweep, none for its children."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg

from tests.e2e.test_backtest_runs import HANDLER, SMA, add_dataset, add_run, add_strategy
from tests.e2e.test_sweep_fan_out import GRID, Notifications, assert_same_result, workers
from tests.queue.helpers import WorkerProcess
from tests.queue.test_fleet_ops import cli


async def test_a_sweep_failed_by_a_child_is_retried_into_the_one_run_grid(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    path = Path(await conn.fetchval("SELECT storage_uri FROM datasets WHERE id = $1", dataset_id))
    hidden = path.rename(path.with_suffix(".away"))  # a plain sweep's split reads no bars
    heard = Notifications()
    await heard.start(database_url)
    sweep_id = await add_run(
        conn, dataset_id, strategy_id, {"grid": GRID, "sweep": {"chunk_size": 4}}
    )
    # One run at a time: the first child fails, the sweep fails, the pending ones are cancelled.
    first = WorkerProcess(
        database_url,
        tmp_path / "logs",
        "--burst",
        handler=HANDLER,
        artifact_dir=tmp_path / "artifacts",
        data_dir=tmp_path / "data",
        worker_concurrency=1,
    )
    assert await first.wait(within=120) == 0, first.log_text()[-3000:]

    sweep = await conn.fetchrow("SELECT status::text, error FROM runs WHERE id = $1", sweep_id)
    assert sweep["status"] == "failed"
    error = json.loads(sweep["error"])
    # the next child is claimed while a failure is being written, so it may fail too
    failed = await conn.fetch(
        "SELECT id, error FROM runs WHERE parent_id = $1 AND status = 'failed'", sweep_id
    )
    assert error["type"] == "dataset_missing"
    assert {json.loads(f["error"])["type"] for f in failed} == {"dataset_missing"}
    assert error["detail"]["child_run_id"] in {str(f["id"]) for f in failed}
    states = dict(
        await conn.fetch(
            "SELECT status::text, count(*) FROM runs WHERE parent_id = $1 GROUP BY 1", sweep_id
        )
    )
    assert states["failed"] >= 1 and states["failed"] + states.get("cancelled", 0) == 6

    refused = await asyncio.to_thread(cli, database_url, "retry", str(failed[0]["id"]))
    assert refused.returncode == 1 and "retry the sweep" in refused.stderr, refused.stderr

    hidden.rename(path)
    retried = await asyncio.to_thread(cli, database_url, "retry", str(sweep_id))
    assert retried.returncode == 0, retried.stderr
    assert "waiting again" in retried.stderr
    assert await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", sweep_id) == "waiting"
    grid_id = await add_run(conn, dataset_id, strategy_id, {"grid": GRID})
    fleet = workers(database_url, tmp_path, 2, "--burst")
    for worker in fleet:
        assert await worker.wait(within=180) == 0, worker.log_text()[-3000:]
    await heard.stop()

    await assert_same_result(conn, sweep_id, grid_id)
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM runs WHERE parent_id = $1 AND status = 'succeeded'", sweep_id
        )
        == 6
    )
    sweep_heard = [n["status"] for n in heard.completed if n["run_id"] == str(sweep_id)]
    assert sweep_heard == ["failed", "succeeded"]  # one run_completed per final state
    assert {n["run_id"] for n in heard.completed} == {str(sweep_id), str(grid_id)}
    events = dict(
        await conn.fetch(
            "SELECT event_type, count(*) FROM events WHERE run_id = $1 GROUP BY 1", sweep_id
        )
    )
    assert events["fanned_out"] == events["children_finished"] == events["completed"] == 1
    assert events["retry_requested"] == 1
