"""Events written per second: a 100,000-trade run's event log through COPY vs INSERTs.

    .venv/bin/python -m bench.events [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

Creates and drops its own database. Prints, in one run on the same server: building the
200,000 trade events (polars), writing them with COPY (the worker's path, inside one
transaction), and writing a sample with executemany INSERT for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import polars as pl
from sqlalchemy.engine import make_url

from worker.db.migrate import upgrade
from worker.db.pools import setup_connection
from worker.queue.queries import copy_events_csv
from worker.results.events import trade_event_frame, trade_events_csv


def synthetic_trades(count: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = datetime(2000, 1, 1, tzinfo=UTC)
    entry = [start + timedelta(minutes=2 * i) for i in range(count)]
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, count)))
    exit_prices = prices * (1 + rng.normal(0, 0.002, count))
    units = rng.integers(1, 100, count).astype(float)
    return pl.DataFrame(
        {
            "symbol": rng.choice(["AAA", "BBB", "CCC"], count),
            "side": rng.choice(["long", "short"], count),
            "entry_time": entry,
            "entry_price": prices,
            "exit_time": [t + timedelta(minutes=1) for t in entry],
            "exit_price": exit_prices,
            "units": units,
            "fees": units * prices * 0.001,
            "pnl": units * (exit_prices - prices),
            "return": exit_prices / prices - 1,
            "exit_reason": ["signal"] * count,
        }
    ).with_columns(pl.col("entry_time", "exit_time").cast(pl.Datetime("us", "UTC")))


async def main(server_url: str, trades: int) -> None:
    name = f"bench_events_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade, url)
        conn = await asyncpg.connect(url)
        await setup_connection(conn)
        dataset = await conn.fetchval(
            "INSERT INTO datasets (name, symbols, timeframe, start_date, end_date, row_count,"
            " storage_uri, hash) VALUES ('b', '{A}', '1m', now(), now(), 1, 'x', $1) RETURNING id",
            "0" * 64,
        )
        strategy = await conn.fetchval(
            "INSERT INTO strategies (name, params) VALUES ('b', '{\"kind\": \"x\"}') RETURNING id"
        )
        run_id = await conn.fetchval(
            "INSERT INTO runs (dataset_id, strategy_id, initial_capital) VALUES ($1, $2, 1)"
            " RETURNING id",
            dataset,
            strategy,
        )
        frame = synthetic_trades(trades)
        started = time.perf_counter()
        data = trade_events_csv(run_id, frame)
        built = time.perf_counter() - started
        events = 2 * frame.height

        started = time.perf_counter()
        async with conn.transaction():
            await copy_events_csv(conn, data)
        copied = time.perf_counter() - started

        sample_frame = trade_event_frame(frame.head(10_000))
        sample = [
            (run_id, kind, stamp, json.loads(payload))
            for kind, stamp, payload in sample_frame.iter_rows()
        ]
        started = time.perf_counter()
        async with conn.transaction():
            await conn.executemany(
                "INSERT INTO events (run_id, event_type, timestamp, payload) VALUES ($1,$2,$3,$4)",
                sample,
            )
        inserted = time.perf_counter() - started
        await conn.close()

        print(f"trades: {trades:,}  events: {events:,}")
        print(f"build events (polars):   {built:7.3f} s  {events / built:12,.0f} events/s")
        print(f"COPY (worker path):      {copied:7.3f} s  {events / copied:12,.0f} events/s")
        print(
            f"executemany INSERT:      {inserted:7.3f} s  {len(sample) / inserted:12,.0f} events/s"
            f"  (sample of {len(sample):,})"
        )
        print(f"COPY / INSERT speed-up:  {(events / copied) / (len(sample) / inserted):.1f}x")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--trades", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main(args.database_url, args.trades))
