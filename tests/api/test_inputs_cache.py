"""POST /runs's read of a run's dataset and strategy, cached per pair: a pair that exists is
read once, a missing one is read again (so it is found the moment it is created)."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg

from tests.e2e.test_backtest_runs import add_dataset, add_strategy
from worker.api.validation import InputsCache
from worker.db.pools import create_pool

SMA = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 40}


async def test_found_pairs_are_kept_and_missing_ones_read_again(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    dataset = await add_dataset(conn, tmp_path / "data")
    strategy_id = uuid.uuid4()
    cache = InputsCache()
    pool = await create_pool(database_url, size=1, application_name="test-inputs")
    try:
        assert not (await cache.run_inputs(pool, dataset, strategy_id))["strategy_found"]
        await conn.execute(
            "INSERT INTO strategies (id, name, version, params)"
            " VALUES ($1, 'cached', '1.0.0', $2::text::jsonb)",
            strategy_id,
            '{"kind": "buy_and_hold"}',
        )
        found = await cache.run_inputs(pool, dataset, strategy_id)
        assert found["strategy_found"] and found["strategy_name"] == "cached"
        other = await add_strategy(conn, SMA)
        await conn.execute("UPDATE strategies SET name = 'renamed' WHERE id = $1", strategy_id)
        assert (await cache.run_inputs(pool, dataset, strategy_id))["strategy_name"] == "cached"
        assert (await cache.run_inputs(pool, dataset, other))["strategy_found"]
    finally:
        await pool.close()
