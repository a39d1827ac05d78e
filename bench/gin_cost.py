"""GIN upkeep per document of a real run: its `metrics` event and its `runs.metadata`.

    .venv/bin/python -m bench.gin_cost [--database-url URL] [--documents 20000] [--repeat 2]

One real backtest (the engine on 5 generated symbols × 2,520 daily bars, the medium run of
bench.end_to_end) gives the two documents a succeeded run writes to GIN-indexed columns:
the `metrics` event's payload (every metric) and `runs.metadata` (engine version, dataset
hash, strategy, resolved config, timings). Each is inserted `--documents` times (one INSERT
… SELECT, each copy made distinct by one key) into a one-column table without an index,
with a GIN `jsonb_ops` index and with a GIN `jsonb_path_ops` index, the pending list merged
in the same measure; prints the server's execution time and WAL per document, and the
difference to no index: the index's cost. Creates and drops its own database. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid

import asyncpg

from bench.queue_throughput import DEFAULT_SERVER, admin, with_database
from worker import jsonsafe
from worker.engine.api import run_backtest
from worker.engine.synthetic import generate_bars

INDEXES = {
    "no index": "",
    "gin (jsonb_ops)": "CREATE INDEX ON doc USING gin (body)",
    "gin (jsonb_path_ops)": "CREATE INDEX ON doc USING gin (body jsonb_path_ops)",
}


def documents() -> dict[str, str]:
    """A medium run's metrics event payload and metadata, as the worker writes them."""
    bars = generate_bars(("AAA", "BBB", "CCC", "DDD", "EEE"), 2520, "1d", seed=7)
    result = run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 20, "slow_period": 100},
        {},
        initial_capital=10_000,
        timeframe="1d",
    )
    metadata = {
        "engine_version": result.engine_version,
        "dataset_hash": "0" * 64,
        "strategy": {"name": "sma", "version": "1.0.0", "params": result.strategy},
        "resolved_config": result.resolved_config,
        "best_params": result.best_params,
        "grid": result.grid_summary,
        "timings": {**result.timings, "render": 0.01, "store": 0.02},
    }
    return {
        "metrics event": jsonsafe.dumps(dict(result.metrics)),
        "runs.metadata": json.dumps(metadata, default=str),
    }


async def measure(
    connection: asyncpg.Connection, index: str, body: str, count: int
) -> tuple[float, float]:
    await connection.execute("DROP TABLE IF EXISTS doc; CREATE TABLE doc (body jsonb)")
    if index:
        await connection.execute(index)
    wal_start = await connection.fetchval("SELECT pg_current_wal_insert_lsn()")
    started = time.perf_counter()
    await connection.execute(
        "INSERT INTO doc SELECT $1::jsonb || jsonb_build_object('copy', g)"
        " FROM generate_series(1, $2) AS g",
        body,
        count,
    )
    if index:
        await connection.execute(
            "SELECT gin_clean_pending_list(indexrelid) FROM pg_index"
            " WHERE indrelid = 'doc'::regclass"
        )
    elapsed = time.perf_counter() - started
    wal = await connection.fetchval(
        "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1)", wal_start
    )
    return elapsed, float(wal)


async def bench(server: str, count: int, repeat: int) -> None:
    docs = documents()
    name = f"bench_gin_{uuid.uuid4().hex[:8]}"
    await admin(server, f'CREATE DATABASE "{name}"')
    try:
        connection = await asyncpg.connect(with_database(server, name))
        try:
            for label, body in docs.items():
                print(f"{label}: {len(body):,} bytes of JSON; {count:,} documents")
                for _ in range(repeat):
                    base: float | None = None
                    for index_label, index in INDEXES.items():
                        elapsed, wal = await measure(connection, index, body, count)
                        per = 1e6 * elapsed / count
                        if base is None:
                            base = per
                        print(
                            f"  {index_label:<22} {per:7.1f} us/document"
                            f"  (index {per - base:+6.1f})  WAL {wal / count:7,.0f} B/document",
                            flush=True,
                        )
        finally:
            await connection.close()
    finally:
        await admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER)
    )
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(bench(args.database_url, args.documents, args.repeat))


if __name__ == "__main__":
    main()
