"""Dead tuples and HOT updates of the queue tables during a sustained drain, before and after
migration 0007 (fillfactor and autovacuum settings), side by side under the same load.

    .venv/bin/python -m bench.table_health [--minutes 10] [--database-url postgresql://…]

By default on a PostgreSQL cluster of its own (initdb on a free port, the server's default
settings, autovacuum on; see tests/private_pg.py), since a shared server may run with
autovacuum off; --database-url uses that server instead (its autovacuum setting is printed).
Two databases on the server: one migrated to the revision before 0007, one to head. Each gets
a real `backtest-worker run` (the production handler, small real backtests, no artifact
files) and a feeder that keeps PENDING runs waiting. Every --sample-seconds it prints, per
database, from `pg_stat_user_tables`: runs done, n_dead_tup of runs and events, the share of
runs' updates that were HOT (n_tup_hot_upd / n_tup_upd), autovacuums so far and the heap size
of runs. Then a summary. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from alembic.script import ScriptDirectory

from bench.queue_db import (
    DEFAULT_SERVER,
    add_dataset_and_strategy,
    bench_database,
    insert_runs,
    start_worker,
)
from tests.private_pg import PrivateCluster
from worker.db.migrate import alembic_config

PENDING = 40
STATS = """
SELECT relname, n_live_tup, n_dead_tup, n_tup_upd, n_tup_hot_upd, autovacuum_count,
       pg_relation_size(relid) AS heap_bytes
FROM pg_stat_user_tables WHERE relname IN ('runs', 'events')
"""


@dataclass
class Side:
    label: str
    url: str
    conn: asyncpg.Connection  # the samples'
    feeder: asyncpg.Connection  # the feeder's: one connection runs one statement at a time
    dataset_id: Any
    strategy_id: Any
    peak_dead: int = 0


def revision_before(revision: str) -> str:
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused/db"))
    down = script.get_revision(revision).down_revision
    assert isinstance(down, str)
    return down


async def feed(side: Side, stop: asyncio.Event) -> None:
    while not stop.is_set():
        pending = await side.feeder.fetchval("SELECT count(*) FROM runs WHERE status = 'pending'")
        if pending < PENDING:
            await insert_runs(side.feeder, side.dataset_id, side.strategy_id, PENDING)
        await asyncio.sleep(0.5)


async def sample(side: Side) -> dict[str, Any]:
    rows = {row["relname"]: row for row in await side.conn.fetch(STATS)}
    runs, events = rows["runs"], rows["events"]
    done = await side.conn.fetchval("SELECT count(*) FROM runs WHERE status = 'succeeded'")
    side.peak_dead = max(side.peak_dead, runs["n_dead_tup"])
    return {
        "done": done,
        "runs_dead": runs["n_dead_tup"],
        "runs_live": runs["n_live_tup"],
        "events_dead": events["n_dead_tup"],
        "hot": runs["n_tup_hot_upd"] / runs["n_tup_upd"] if runs["n_tup_upd"] else 0.0,
        "updates": runs["n_tup_upd"],
        "autovacuums": runs["autovacuum_count"],
        "heap_mib": runs["heap_bytes"] / 2**20,
    }


def line(label: str, elapsed: float, s: dict[str, Any]) -> str:
    return (
        f"{elapsed / 60:5.1f} min  {label:<7} done {s['done']:6d}  runs dead {s['runs_dead']:6d}"
        f" (live {s['runs_live']:6d})  HOT {s['hot']:6.1%} of {s['updates']:7d} updates"
        f"  autovacuums {s['autovacuums']:3d}  runs heap {s['heap_mib']:6.2f} MiB"
        f"  events dead {s['events_dead']:5d}"
    )


@contextlib.contextmanager
def private_server() -> Iterator[str]:
    """A cluster of the bench's own, as the `postgres` OS user when run as root."""
    pg_ctl = shutil.which("pg_ctl") or max(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    root = Path(tempfile.mkdtemp(prefix="bt-table-health-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    cluster = PrivateCluster(Path(pg_ctl).parent, root, as_user)
    try:
        yield cluster.url()
    finally:
        cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


async def bench(args: argparse.Namespace) -> None:
    if args.database_url:
        await measure(args, args.database_url)
    else:
        with private_server() as server_url:
            await measure(args, server_url)


async def measure(args: argparse.Namespace, server_url: str) -> None:
    head = "0007"
    before = revision_before(head)
    work = Path(tempfile.mkdtemp(prefix="bt-table-health-"))
    async with (
        bench_database(server_url, "bench_th_before", before) as url_before,
        bench_database(server_url, "bench_th_after", head) as url_after,
    ):
        sides = []
        for label, url in ((f"{before}", url_before), (f"{head}", url_after)):
            conn = await asyncpg.connect(url)
            dataset_id, strategy_id = await add_dataset_and_strategy(conn, work / "data")
            feeder = await asyncpg.connect(url)
            sides.append(Side(label, url, conn, feeder, dataset_id, strategy_id))
        autovacuum = await sides[0].conn.fetchval("SHOW autovacuum")
        print(
            f"before: migrated to {before}; after: migrated to {head} (fillfactor, autovacuum);"
            f" the server's autovacuum is {autovacuum}"
        )
        workers = [
            start_worker(side.url, work, worker_concurrency=args.concurrency) for side in sides
        ]
        stop = asyncio.Event()
        feeders = [asyncio.create_task(feed(side, stop)) for side in sides]
        started = time.monotonic()
        finals: dict[str, dict[str, Any]] = {}
        try:
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                await asyncio.sleep(min(args.sample_seconds, args.minutes * 60 - elapsed))
                for side in sides:
                    finals[side.label] = await sample(side)
                    print(
                        line(side.label, time.monotonic() - started, finals[side.label]),
                        flush=True,
                    )
        finally:
            stop.set()
            for failed in await asyncio.gather(*feeders, return_exceptions=True):
                if isinstance(failed, BaseException):
                    print(f"a feeder failed: {failed!r}")
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(60)
        minutes = (time.monotonic() - started) / 60
        print(f"\nsummary after {minutes:.1f} minutes (concurrency {args.concurrency} each):")
        for side in sides:
            final = finals[side.label]
            print(
                f"  {side.label}: {final['done']} runs ({final['done'] / minutes / 60:.2f}/s),"
                f" runs dead tuples peak {side.peak_dead} / end {final['runs_dead']},"
                f" HOT {final['hot']:.1%} of {final['updates']} updates,"
                f" {final['autovacuums']} autovacuums, runs heap {final['heap_mib']:.2f} MiB"
            )
            await side.conn.close()
            await side.feeder.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", help=f"a server to use, e.g. {DEFAULT_SERVER} (default: a private one)"
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample-seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=2)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
