"""Rows the worker cannot or will not decode fail alone, at once; the rest of the batch runs.

A real worker with the production handler drains runs whose `config` (or strategy `params`)
is nested 10,000 levels deep or is megabytes long, claimed in the same batches as good runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from tests.e2e.test_backtest_runs import HANDLER, SMA, add_dataset, add_run, add_strategy
from tests.queue.helpers import WorkerProcess
from worker.bounds import MAX_ERROR_DETAIL, MAX_ERROR_MESSAGE, MAX_INPUT_DEPTH, MAX_LOG_STRING

DEEP = '{"a": ' * 10_000 + "1" + "}" * 10_000


async def raw_run(
    conn: asyncpg.Connection, dataset: object, strategy: object, config: str
) -> object:
    return await conn.fetchval(
        "INSERT INTO runs (dataset_id, strategy_id, initial_capital, config)"
        " VALUES ($1, $2, 10000, $3::text::jsonb) RETURNING id",
        dataset,
        strategy,
        config,
    )


async def test_undecodable_rows_fail_at_once_and_the_batch_runs(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    dataset = await add_dataset(conn, tmp_path / "data")
    strategy = await add_strategy(conn, SMA)
    deep_strategy = await conn.fetchval(
        "INSERT INTO strategies (name, version, params)"
        " VALUES ('deep', '1', $1::text::jsonb) RETURNING id",
        '{"kind": "sma_crossover", "x": ' + DEEP + "}",
    )
    nested = {"kind": "x"}
    for _ in range(MAX_INPUT_DEPTH + 1):
        nested = {"n": nested}
    bad = {
        "config nested 10,000 deep": (
            await raw_run(conn, dataset, strategy, DEEP),
            "invalid_config",
        ),
        "config of 1 MB": (
            await add_run(conn, dataset, strategy, {"k" * 1_000_000: 1}),
            "invalid_config",
        ),
        "config one level too deep": (
            await add_run(conn, dataset, strategy, nested),
            "invalid_config",
        ),
        "params nested 10,000 deep": (
            await add_run(conn, dataset, deep_strategy),
            "invalid_params",
        ),
        # Within the bounds, but the engine's refusal names the 200 kB key: the error is clipped.
        "a 200 kB unknown key": (
            await add_run(conn, dataset, strategy, {"q" * 200_000: 1}),
            "invalid_config",
        ),
    }
    good = [await add_run(conn, dataset, strategy) for _ in range(3)]
    worker = WorkerProcess(
        database_url,
        tmp_path / "logs",
        "--burst",
        handler=HANDLER,
        artifact_dir=tmp_path / "artifacts",
        data_dir=tmp_path / "data",
        worker_concurrency=4,
    )
    assert await worker.wait(within=180) == 0, worker.log_text()[-3000:]

    for name, (run_id, error_type) in bad.items():
        row = await conn.fetchrow(
            "SELECT status::text, attempts, error, octet_length(error::text) AS size"
            " FROM runs WHERE id = $1",
            run_id,
        )
        error = json.loads(row["error"])
        assert (row["status"], row["attempts"], error["type"]) == ("failed", 1, error_type), name
        assert len(error["message"]) <= MAX_ERROR_MESSAGE + 100, name
        assert row["size"] <= MAX_ERROR_MESSAGE + MAX_ERROR_DETAIL + 1000, name
    for run_id in good:
        status = await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", run_id)
        assert status == "succeeded"
    assert not worker.events("claim_failed")
    assert max(len(line) for line in worker.log_text().splitlines()) < 4 * MAX_LOG_STRING
    biggest_event = await conn.fetchval("SELECT max(octet_length(payload::text)) FROM events")
    assert biggest_event < MAX_ERROR_MESSAGE + MAX_ERROR_DETAIL + 1000
