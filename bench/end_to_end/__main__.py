"""`python -m bench.end_to_end`: the options, the run from setup to cleanup, Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import end_to_end
from bench.end_to_end.context import Bench
from bench.end_to_end.database import setup
from bench.end_to_end.figures import Scenario
from bench.end_to_end.machine import machine_facts, uptime
from bench.end_to_end.node import NodeSide, clock_offset
from bench.end_to_end.report import report
from bench.end_to_end.scenarios import noop_ceiling, real_workers
from bench.end_to_end.workers import Workers, worker_env
from bench.end_to_end.workload import (
    ARTIFACTS_OFF,
    CONFIG,
    QUICK_COUNTS,
    QUICK_NOOP_RUNS,
    SIZES,
    STRATEGY,
    choose_sizes,
    production_handler,
)
from bench.queue_throughput import DEFAULT_SERVER, admin, server_version, with_database


async def bench(args: argparse.Namespace) -> int:
    sizes = choose_sizes(args)
    suffix = uuid.uuid4().hex[:8]
    name = f"bench_e2e_{suffix}"
    url = with_database(args.database_url, name)
    work = Path(tempfile.mkdtemp(prefix=f"bench-e2e-{suffix}-"))
    dirs = {k: work / k for k in ("data", "artifacts", "cache", "logs", "input")}
    for path in dirs.values():
        path.mkdir()
    node = NodeSide(url)
    ctx = Bench(args, node, worker_env(url, dirs), dirs)
    created = False
    load_start, load_end = uptime(), ""
    result: dict[str, Any] = {"machine": machine_facts(), "load_start": load_start}
    try:
        await admin(args.database_url, f'CREATE DATABASE "{name}"')
        created = True
        print("== machine ==")
        facts = result["machine"]
        version = await server_version(args.database_url)
        result["machine"]["postgresql"] = version
        print(f"cores: {facts['cores']} ({facts['cpu']}); PostgreSQL {version}")
        print(
            f"Python {facts['python']}, polars {facts['polars']}, worker commit {facts['worker_commit']}, engine {facts['engine_version']}"
        )
        print(f"at start: {load_start}")
        setup_facts = await setup(ctx, [SIZES["small"], *[s for s in sizes if s.name != "small"]])
        await node.open()
        ctx.clock_offset, error = await clock_offset(node.conn)
        concurrency = args.concurrency or args.default_concurrency
        print("\n== setup ==")
        for line in setup_facts:
            print(line)
        print(
            f"strategy {json.dumps(STRATEGY)}; run config {json.dumps(CONFIG)} (artifacts off: + {json.dumps(ARTIFACTS_OFF)})"
        )
        print(
            f"workers: backtest-worker run (default handler: {production_handler()}), concurrency"
            f" {concurrency}{' (default)' if args.concurrency is None else ''},"
            f" {', '.join(map(str, args.worker_counts))} process(es); burst INSERTs: {args.burst_insert}"
        )
        print(
            f"clock: database − client {ctx.clock_offset * 1000:+.2f} ms (± {error * 1000:.2f} ms), applied to database timestamps"
        )
        sys.stdout.flush()
        scenarios: list[Scenario] = []
        notes: list[str] = []
        for count in args.worker_counts:
            found, more = await real_workers(ctx, count, sizes)
            scenarios += found
            notes += more
        noop = []
        if args.noop_runs:
            for count in args.worker_counts:
                noop.append(await noop_ceiling(ctx, count))
        for line in notes:
            print(line)
        print(report(scenarios, noop, ctx.artifacts_off))
        load_end = uptime()
        print(f"\nat end: {load_end}")
        result.update(
            load_end=load_end,
            setup=setup_facts,
            notes=notes,
            clock_offset_ms=ctx.clock_offset * 1000,
            concurrency=concurrency,
            strategy=STRATEGY,
            config=CONFIG,
            artifacts_off=ctx.artifacts_off,
            sizes=[asdict(s) for s in sizes],
            scenarios=[asdict(s) for s in scenarios],
            noop=[asdict(s) for s in noop],
        )
        if args.json:
            text = json.dumps(result, indent=2, default=str)
            await asyncio.to_thread(Path(args.json).write_text, text)
            print(f"figures written to {args.json}")
        return 0
    finally:
        Workers.stop_all(grace=5)
        await node.close()
        if created:
            try:
                await asyncio.wait_for(
                    admin(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'), 30
                )
            except Exception as error:
                print(f"could not drop database {name}: {error}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


async def main_async(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if not STOPPED_BY:  # a second signal does not interrupt the cleanup
            STOPPED_BY.append(signum)
            task.cancel()

    # SIGINT too, explicitly: a background job inherits SIGINT ignored, and asyncio's own
    # Ctrl-C handling would then never fire.
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    return await bench(args)


STOPPED_BY: list[int] = []


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.end_to_end",
        description=(end_to_end.__doc__ or "").split("\n\n")[0] or None,
        epilog="Sizes: small 1×250 1d, medium 5×2,520 1d, large 1×1,000,000 1m. Defaults:"
        f" latency runs {','.join(f'{k}={v.latency_runs}' for k, v in SIZES.items())};"
        f" burst runs {','.join(f'{k}={v.burst_runs}' for k, v in SIZES.items())}; no-op 2000."
        f" --quick: latency {','.join(f'{k}={v[0]}' for k, v in QUICK_COUNTS.items())},"
        f" burst {','.join(f'{k}={v[1]}' for k, v in QUICK_COUNTS.items())}, no-op {QUICK_NOOP_RUNS};"
        " large with the largest worker count only.",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER),
        help="server to create the benchmark database on (default %(default)s)",
    )
    parser.add_argument(
        "--sizes", default="small,medium,large", help="comma-separated (default %(default)s)"
    )
    parser.add_argument(
        "--workers", default="1,2", help="worker process counts (default %(default)s)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="--concurrency of each worker (default: the worker's own default)",
    )
    parser.add_argument("--latency-runs", help="override latency run counts, e.g. small=30,large=3")
    parser.add_argument("--burst-runs", help="override burst run counts, e.g. small=300,large=6")
    parser.add_argument("--bars", help="override bars per symbol, e.g. large=200000")
    parser.add_argument(
        "--noop-runs", type=int, default=None, help="no-op burst size (default 2000; 0 skips)"
    )
    parser.add_argument(
        "--scenarios", default="latency,burst", help="latency,burst (default %(default)s)"
    )
    parser.add_argument(
        "--artifacts", default="default,off", help="default,off (default %(default)s)"
    )
    parser.add_argument(
        "--burst-insert",
        choices=("statement", "transaction", "autocommit"),
        default="statement",
        help="a burst is one multi-row INSERT … VALUES (…), (…) RETURNING id, single-row INSERTs"
        " in one transaction, or single-row INSERTs each committed (default %(default)s)",
    )
    parser.add_argument("--no-warmup", action="store_true", help="measure cold workers")
    parser.add_argument("--quick", action="store_true", help="small counts: under ~2 minutes")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args()
    args.worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
    args.scenarios = {s.strip() for s in args.scenarios.split(",")}
    args.artifacts = {s.strip() for s in args.artifacts.split(",")}
    if args.noop_runs is None:
        args.noop_runs = QUICK_NOOP_RUNS if args.quick else 2000
    from worker.config import Settings

    args.default_concurrency = int(Settings.model_fields["worker_concurrency"].default)
    try:
        sys.exit(asyncio.run(main_async(args)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        signum = STOPPED_BY[0] if STOPPED_BY else signal.SIGINT
        print(
            f"stopped by {signal.Signals(signum).name}: workers stopped, database dropped,"
            " temporary files removed",
            file=sys.stderr,
        )
        sys.exit(128 + signum)


if __name__ == "__main__":
    main()
