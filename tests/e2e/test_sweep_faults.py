"""A sweep survives `kill -9` of a worker mid-sweep (its child is retried like any run, and
the fan-in happens exactly once), and cancelling the parent stops the running children on
their workers."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import asyncpg

from tests.e2e.test_backtest_runs import SMA, add_strategy
from tests.e2e.test_sweep_fan_out import GRID, Notifications, assert_same_result, workers
from worker.engine.bars import canonical_hash, write_canonical_parquet
from worker.engine.synthetic import generate_bars


async def add_long_dataset(conn: asyncpg.Connection, directory: Path) -> uuid.UUID:
    """Enough bars that a child of a few combinations is still running when looked at."""
    bars = generate_bars(symbols=["AAA", "BBB"], n_bars=20_000, seed=7)
    content_hash = canonical_hash(bars)
    directory.mkdir(parents=True, exist_ok=True)
    path = write_canonical_parquet(bars, directory / f"{content_hash}.parquet")
    return await conn.fetchval(  # type: ignore[no-any-return]
        """
        INSERT INTO datasets (name, symbols, timeframe, start_date, end_date, row_count,
                              storage_uri, hash)
        VALUES ('long', ARRAY['AAA', 'BBB'], '1d', $1, $2, $3, $4, $5) RETURNING id
        """,
        bars["timestamp"].min(),
        bars["timestamp"].max(),
        bars.height,
        str(path),
        content_hash,
    )


async def insert(
    conn: asyncpg.Connection, dataset_id: uuid.UUID, strategy_id: uuid.UUID, config: dict
) -> uuid.UUID:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "INSERT INTO runs (dataset_id, strategy_id, initial_capital, config)"
        " VALUES ($1, $2, 10000, $3::text::jsonb) RETURNING id",
        dataset_id,
        strategy_id,
        json.dumps(config),
    )


async def running_children(conn: asyncpg.Connection, parent: uuid.UUID) -> list[asyncpg.Record]:
    for _ in range(3000):
        rows = await conn.fetch(
            "SELECT id, locked_by FROM runs WHERE parent_id = $1 AND status = 'running'", parent
        )
        if rows:
            return rows
        await asyncio.sleep(0.01)
    raise AssertionError("no child of the sweep ever ran")


async def test_kill_9_mid_sweep_retries_the_child_and_fans_in_once(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_long_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    heard = Notifications()
    await heard.start(database_url)
    sweep_id = await insert(
        conn, dataset_id, strategy_id, {"grid": GRID, "sweep": {"chunk_size": 2}}
    )
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
    grid_id = await insert(conn, dataset_id, strategy_id, {"grid": GRID})
    survivors = workers(database_url, tmp_path, 2, "--burst")
    for worker in survivors:
        assert await worker.wait(within=240) == 0, worker.log_text()[-3000:]
    await heard.stop()

    await assert_same_result(conn, sweep_id, grid_id)
    for orphan in orphans:
        row = await conn.fetchrow(
            "SELECT status::text, attempts FROM runs WHERE id = $1", orphan["id"]
        )
        assert row["status"] == "succeeded" and row["attempts"] == orphan["attempts"] + 1
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM events WHERE run_id = $1 AND event_type = 'lease_expired'",
                orphan["id"],
            )
            == 1
        )
    counts = dict(
        await conn.fetch(
            "SELECT event_type, count(*) FROM events WHERE run_id = $1 GROUP BY 1", sweep_id
        )
    )
    assert counts["fanned_out"] == counts["children_finished"] == counts["completed"] == 1
    assert [n["run_id"] for n in heard.completed].count(str(sweep_id)) == 1
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM runs WHERE parent_id = $1 AND status <> 'succeeded'", sweep_id
        )
        == 0
    )


async def test_cancelling_a_sweep_stops_its_running_children(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset_id = await add_long_dataset(conn, tmp_path / "data")
    strategy_id = await add_strategy(conn, SMA)
    heard = Notifications()
    await heard.start(database_url)
    sweep_id = await insert(
        conn, dataset_id, strategy_id, {"grid": GRID, "sweep": {"chunk_size": 3}}
    )
    (worker,) = workers(database_url, tmp_path, 1, "--burst")
    try:
        running = await running_children(conn, sweep_id)
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
    was_running = await conn.fetch(
        "SELECT status::text FROM runs WHERE id = ANY($1::uuid[])", [r["id"] for r in running]
    )
    # a child running at the cancel either finished in the meantime or was stopped
    assert {r["status"] for r in was_running} <= {"cancelled", "succeeded"}
    assert [n["run_id"] for n in heard.completed] == [str(sweep_id)]
