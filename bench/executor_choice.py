"""Executor choice: event-loop latency under CPU-bound work in threads or in processes.

    .venv/bin/python -m bench.executor_choice [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

While CPU jobs run (a pure-Python loop holding the GIL, a polars query releasing it), the
event loop's round trip of `SELECT 1` (what a heartbeat does) to PostgreSQL, p50/p99. Why
the worker runs backtests in threads (worker/queue/executor.py). Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import asyncpg

from bench.queue_throughput import DEFAULT_SERVER, percentile


def _busy_python(seconds: float) -> int:
    deadline = time.monotonic() + seconds
    spins = 0
    while time.monotonic() < deadline:
        for _ in range(10_000):
            spins += 1
    return spins


def _busy_polars(seconds: float) -> int:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"k": rng.integers(0, 1000, 2_000_000), "v": rng.random(2_000_000)})
    deadline = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < deadline:
        frame.with_columns(
            pl.col("v").rolling_mean(50).alias("m"), pl.col("v").cum_sum().alias("c")
        ).group_by("k").agg(pl.col("m").mean(), pl.col("c").max())
        rounds += 1
    return rounds


async def _probe(connection: asyncpg.Connection, seconds: float) -> tuple[float, float]:
    """Round trips of `SELECT 1` (what a heartbeat does) from the event loop."""
    latencies = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        await connection.fetchval("SELECT 1")
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.005)
    return percentile(latencies, 0.5), percentile(latencies, 0.99)


async def executor_bench(server: str, seconds: float, threads: int) -> None:
    from concurrent.futures import ProcessPoolExecutor

    from worker.queue.executor import run_in_thread

    connection = await asyncpg.connect(server)
    loop = asyncio.get_running_loop()
    print(f"event-loop round trip to Postgres (SELECT 1) while {threads} CPU job(s) run:")
    p50, p99 = await _probe(connection, seconds)
    print(f"  {'idle':<34} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
    cases: list[tuple[str, Callable[[], Any]]] = [
        (
            "threads, pure-Python loop (GIL)",
            lambda: [run_in_thread(_busy_python, seconds) for _ in range(threads)],
        ),
        (
            "threads, polars",
            lambda: [run_in_thread(_busy_polars, seconds) for _ in range(threads)],
        ),
    ]
    pool = ProcessPoolExecutor(threads)
    cases.append(
        (
            "process pool, pure-Python loop",
            lambda: [loop.run_in_executor(pool, _busy_python, seconds) for _ in range(threads)],
        )
    )
    for label, make in cases:
        work = [asyncio.ensure_future(job) for job in make()]
        await asyncio.sleep(0.2)
        p50, p99 = await _probe(connection, seconds - 0.5)
        await asyncio.gather(*work)
        print(f"  {label:<34} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
    pool.shutdown()
    await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER)
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="per case")
    parser.add_argument("--threads", type=int, default=2, help="CPU jobs at once")
    args = parser.parse_args()
    asyncio.run(executor_bench(args.database_url, args.seconds, args.threads))


if __name__ == "__main__":
    main()
