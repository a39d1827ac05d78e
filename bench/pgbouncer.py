"""Drain figures through PgBouncer (transaction mode) against a direct connection.

    .venv/bin/python -m bench.pgbouncer [--runs 300] [--concurrency 2] [--database-url …]

For each path, a database of its own at head, `--runs` small real backtests (no artifact
files) inserted in one statement, then one `backtest-worker run --burst`: directly
(DATABASE_URL is the server), and through a pgbouncer process of the bench's own in
transaction mode with DATABASE_STATEMENT_CACHE=0 and DATABASE_LISTEN_URL the server. Prints
runs/s from the first claim to the last finish (database clock), the process' wall time, and
whether every run succeeded with no prepared-statement error. Needs the `pgbouncer` binary.
Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from bench.queue_db import (
    DEFAULT_SERVER,
    add_dataset_and_strategy,
    bench_database,
    insert_runs,
    start_worker,
)
from tests.pgbouncer import PgBouncer, running_pgbouncer

DRAIN = """
SELECT count(*) FILTER (WHERE status = 'succeeded') AS succeeded, count(*) AS runs,
       extract(epoch FROM max(finished_at) - min(started_at)) AS seconds
FROM runs
"""


@contextlib.contextmanager
def no_pooler() -> Iterator[None]:
    yield None


def statement_errors(work: Path) -> int:
    logs = "".join(path.read_text(errors="replace") for path in work.glob("worker-*.log"))
    return logs.count("prepared statement")


async def drain(server_url: str, args: argparse.Namespace, pooled: bool) -> str:
    work = Path(tempfile.mkdtemp(prefix="bt-bench-pgbouncer-"))
    async with bench_database(server_url, "bench_pgb") as url:
        conn = await asyncpg.connect(url)
        try:
            dataset_id, strategy_id = await add_dataset_and_strategy(conn, work / "data")
            await insert_runs(conn, dataset_id, strategy_id, args.runs)
            with (
                running_pgbouncer(url, pool_size=args.pool_size) if pooled else no_pooler() as (
                    bouncer
                )
            ):
                settings: dict[str, object] = {"worker_concurrency": args.concurrency}
                worker_url = url
                if isinstance(bouncer, PgBouncer):
                    database = make_url(url).database
                    assert database is not None
                    worker_url = bouncer.url(database)
                    settings |= {"database_listen_url": url, "database_statement_cache": 0}
                started = time.monotonic()
                worker = start_worker(worker_url, work, "--burst", **settings)
                code = await asyncio.to_thread(worker.wait, 1800)
                wall = time.monotonic() - started
            row = await conn.fetchrow(DRAIN)
        finally:
            await conn.close()
    errors = await asyncio.to_thread(statement_errors, work)
    label = "pgbouncer" if pooled else "direct"
    return (
        f"{label:<10} {row['succeeded']}/{row['runs']} succeeded, exit {code}:"
        f" {row['runs'] / float(row['seconds']):6.1f} runs/s (first claim → last finish"
        f" {float(row['seconds']):.1f} s; process {wall:.1f} s with start-up),"
        f" prepared-statement errors in the log: {errors}"
    )


async def bench(args: argparse.Namespace) -> None:
    print(f"{args.runs} small real backtests, one worker, concurrency {args.concurrency}")
    for _ in range(args.repeat):
        for pooled in (False, True):
            print(await drain(args.database_url, args, pooled), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=4, help="pgbouncer server connections")
    parser.add_argument("--repeat", type=int, default=2)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
