"""A finished backtest is never run again because its final write failed.

The fault is real: a trigger in the test's database refuses the first `succeeded` writes
with a serialization failure (SQLSTATE 40001, as PostgreSQL raises under load),
or refuses every one with a numeric overflow (22003, a permanent error). The worker is a
real process with the production handler.
"""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from tests.e2e.test_backtest_runs import add_dataset, add_run, add_strategy, drain
from tests.queue.helpers import event_types, run_row

SMA = {"kind": "sma_crossover", "fast_period": 5, "slow_period": 20}

# A sequence is not rolled back with the failed statement: the first three row updates to
# `succeeded` are refused, whichever batch they come in.
REFUSE_FIRST_SUCCESSES = """
CREATE SEQUENCE refusals;
CREATE FUNCTION refuse_first_success() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('refusals') <= 3 THEN
        RAISE EXCEPTION 'injected: could not serialize access' USING ERRCODE = '40001';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_first_success BEFORE UPDATE ON runs
    FOR EACH ROW WHEN (NEW.status = 'succeeded') EXECUTE FUNCTION refuse_first_success();
"""

REFUSE_EVERY_SUCCESS = """
CREATE FUNCTION refuse_success() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'injected: numeric field overflow' USING ERRCODE = '22003';
END $$;
CREATE TRIGGER refuse_success BEFORE UPDATE ON runs
    FOR EACH ROW WHEN (NEW.status = 'succeeded') EXECUTE FUNCTION refuse_success();
"""


async def test_a_transient_error_at_the_final_write_does_not_rerun_the_backtest(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    dataset = await add_dataset(conn, tmp_path / "data")
    strategy = await add_strategy(conn, SMA)
    runs = [await add_run(conn, dataset, strategy) for _ in range(3)]
    await conn.execute(REFUSE_FIRST_SUCCESSES)
    worker = await drain(database_url, tmp_path)
    assert await conn.fetchval("SELECT last_value FROM refusals") > 3
    for run_id in runs:
        row = await run_row(conn, run_id)
        assert (row["status"], row["attempts"]) == ("succeeded", 1)
        types = await event_types(conn, run_id)
        assert types.count("simulation_started") == 1
        assert types.count("completed") == 1 and "retried" not in types
        # The success was written whole on the second try: its artifacts and trade events too.
        assert await conn.fetchval("SELECT count(*) FROM artifacts WHERE run_id = $1", run_id)
        assert "trade_exit" in types and "metrics" in types
    assert worker.events("completion_write_retry")


async def test_a_success_the_database_refuses_for_good_fails_without_a_rerun(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    dataset = await add_dataset(conn, tmp_path / "data")
    strategy = await add_strategy(conn, SMA)
    run_id = await add_run(conn, dataset, strategy)
    await conn.execute(REFUSE_EVERY_SUCCESS)
    await drain(database_url, tmp_path)
    row = await run_row(conn, run_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    error = json.loads(row["error"])
    assert error["type"] == "value_out_of_range"
    types = await event_types(conn, run_id)
    assert types.count("simulation_started") == 1 and "retried" not in types
    assert await conn.fetchval("SELECT count(*) FROM artifacts WHERE run_id = $1", run_id) == 0
