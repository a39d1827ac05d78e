"""Queue benchmark: our worker against PGQueuer on the same PostgreSQL server.

    .venv/bin/python -m bench.queue_throughput [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

Prints, for each system: no-op jobs claimed and completed per second with 1, 2 and 4 worker
processes (jobs inserted in one statement while the workers wait; timed from that commit to
an empty queue), and the wake-up latency p50/p99 from an INSERT's commit to the handler
starting, with one idle worker. Our figures include the whole lifecycle: fenced claim with a
`claimed` event, fenced completion with a `completed` event and the run_completed NOTIFY.
Beside each rate, the CPU time per 1,000 jobs of the worker processes and of their
PostgreSQL backends (from /proc): unlike the rate, it holds on a machine shared with other
work, and it says which side is the limit.

Each run creates its own databases on the server and drops them afterwards. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench.cpu import backend_pids, cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
BIN = Path(sys.executable).parent / "backtest-worker"
LATENCY_FILE_ENV = "BENCH_LATENCY_FILE"


# --- handlers (imported by the worker processes as bench.queue_throughput:…) ----------------------


def _metrics(capital: Any) -> dict[str, Any]:
    return {
        "final_value": float(capital),
        "total_return": 0.0,
        "sharpe_ratio": None,
        "max_drawdown": 0.0,
        "win_rate": None,
        "total_trades": 0,
        "winning_trades": 0,
        "losing_trades": 0,
    }


async def noop(job: Any, ctx: Any) -> Any:
    from worker.queue.handler import RunOutcome

    return RunOutcome(metrics=_metrics(job.initial_capital))


async def stamp(job: Any, ctx: Any) -> Any:
    """Records when the handler started (wall clock), for the wake-up latency."""
    now = time.time()
    with open(os.environ[LATENCY_FILE_ENV], "a") as out:  # noqa: ASYNC230 (tiny append)
        out.write(f"{job.id} {now}\n")
    return await noop(job, ctx)


# --- helpers ------------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def wait_until(check: Callable[[], Awaitable[bool]], interval: float, limit: float) -> None:
    give_up = time.perf_counter() + limit
    while not await check():
        if time.perf_counter() > give_up:
            raise TimeoutError("the benchmark's workers did not finish in time")
        await asyncio.sleep(interval)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        PYTHONPATH=str(ROOT),
        WORKER_ENV_FILE="/nonexistent/.env",
        LOG_LEVEL="WARNING",
        LOG_FORMAT="json",
        **extra,
    )
    return env


# --- our worker ---------------------------------------------------------------------------


class Ours:
    name = "backtest-worker"

    def __init__(self, url: str, concurrency: int) -> None:
        self.url = url
        self.concurrency = concurrency

    async def setup(self) -> None:
        from worker.db.migrate import upgrade

        await asyncio.to_thread(upgrade, self.url)
        connection = await asyncpg.connect(self.url)
        try:
            self.dataset = await connection.fetchval(
                "INSERT INTO datasets (name, symbols, timeframe, start_date, end_date, row_count,"
                " storage_uri, hash) VALUES ('bench', ARRAY['X'], '1d', '2020-01-01',"
                " '2020-12-31', 1, 'file:///dev/null', md5('a') || md5('b')) RETURNING id"
            )
            self.strategy = await connection.fetchval(
                "INSERT INTO strategies (name) VALUES ('bench') RETURNING id"
            )
        finally:
            await connection.close()

    def start(self, workers: int, handler: str, **settings: str) -> list[subprocess.Popen[bytes]]:
        env = env_for(self.url, **{k.upper(): v for k, v in settings.items()})
        return [
            subprocess.Popen(
                [str(BIN), "run", "--handler", handler, "--concurrency", str(self.concurrency)],
                env=env,
                cwd=ROOT,
            )
            for _ in range(workers)
        ]

    async def ready(self, connection: asyncpg.Connection, workers: int) -> bool:
        count = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name LIKE 'backtest-worker/listen/%' AND state = 'idle'"
        )
        return bool(count >= workers)

    async def clear(self, connection: asyncpg.Connection) -> None:
        # run_queue first, the order in which an idle worker's claim locks the two tables
        # (migration 0015): TRUNCATE runs CASCADE took them the other way round, a deadlock.
        await connection.execute("TRUNCATE run_queue, runs CASCADE")

    async def enqueue(self, connection: asyncpg.Connection, count: int) -> list[str]:
        rows = await connection.fetch(
            "INSERT INTO runs (dataset_id, strategy_id, initial_capital)"
            " SELECT $1, $2, 10000 FROM generate_series(1, $3) RETURNING id",
            self.dataset,
            self.strategy,
            count,
        )
        return [str(row["id"]) for row in rows]

    async def drained(self, connection: asyncpg.Connection) -> bool:
        return not await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE status IN ('pending', 'running'))"
        )

    async def check(self, connection: asyncpg.Connection, count: int) -> str:
        succeeded = await connection.fetchval(
            "SELECT count(*) FROM runs WHERE status = 'succeeded' AND attempts = 1"
        )
        completed = await connection.fetchval(
            "SELECT count(*) FROM events WHERE event_type = 'completed'"
        )
        assert succeeded == count == completed, (succeeded, completed, count)
        return "each run succeeded once"

    def worker_for_throughput(self, workers: int) -> list[subprocess.Popen[bytes]]:
        return self.start(workers, "bench.queue_throughput:noop", poll_interval_seconds="5")

    def worker_for_latency(self, latency_file: str) -> list[subprocess.Popen[bytes]]:
        return self.start(
            1,
            "bench.queue_throughput:stamp",
            poll_interval_seconds="60",
            **{LATENCY_FILE_ENV: latency_file},
        )


# --- PGQueuer, through its documented API -------------------------------------------------


class PGQueuer:
    def __init__(self, url: str, batch_size: int, label: str) -> None:
        self.url = url
        self.batch_size = batch_size
        self.name = f"PGQueuer {label}"

    async def setup(self) -> None:
        from pgqueuer import AsyncpgDriver, Queries

        connection = await asyncpg.connect(self.url)
        try:
            await Queries(AsyncpgDriver(connection)).install()
        finally:
            await connection.close()

    def start(self, workers: int, entrypoint: str, **extra: str) -> list[subprocess.Popen[bytes]]:
        command = [
            sys.executable,
            "-m",
            "bench.queue_throughput",
            "--pgqueuer-worker",
            entrypoint,
            "--batch-size",
            str(self.batch_size),
        ]
        env = env_for(self.url, **extra)
        return [subprocess.Popen(command, env=env, cwd=ROOT) for _ in range(workers)]

    async def ready(self, connection: asyncpg.Connection, workers: int) -> bool:
        count = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'bench-pgqueuer' AND state = 'idle'"
        )
        if count < workers:
            return False
        await asyncio.sleep(1.5)  # connected; give it time to LISTEN and start its loop
        return True

    async def clear(self, connection: asyncpg.Connection) -> None:
        await connection.execute("TRUNCATE pgqueuer, pgqueuer_log")

    async def enqueue(self, connection: asyncpg.Connection, count: int) -> list[str]:
        from pgqueuer import AsyncpgDriver, Queries

        ids = await Queries(AsyncpgDriver(connection)).enqueue(
            ["noop"] * count if count > 1 else "noop",  # type: ignore[arg-type]
            [None] * count if count > 1 else None,  # type: ignore[arg-type]
            [0] * count if count > 1 else 0,  # type: ignore[arg-type]
        )
        return [str(i) for i in ids]

    async def drained(self, connection: asyncpg.Connection) -> bool:
        return not await connection.fetchval("SELECT EXISTS (SELECT 1 FROM pgqueuer)")

    async def check(self, connection: asyncpg.Connection, count: int) -> str:
        return "queue empty"

    def worker_for_throughput(self, workers: int) -> list[subprocess.Popen[bytes]]:
        return self.start(workers, "noop")

    def worker_for_latency(self, latency_file: str) -> list[subprocess.Popen[bytes]]:
        return self.start(1, "stamp", **{LATENCY_FILE_ENV: latency_file})


async def pgqueuer_worker(url: str, batch_size: int, entrypoint: str) -> None:
    """A PGQueuer worker process: `noop` entrypoint (or `stamp` for latency)."""
    from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager

    connection = await asyncpg.connect(url, server_settings={"application_name": "bench-pgqueuer"})
    qm = QueueManager(Queries(AsyncpgDriver(connection)))
    latency_file = os.environ.get(LATENCY_FILE_ENV)

    @qm.entrypoint("noop")
    async def handle(job: Job) -> None:
        if entrypoint == "stamp" and latency_file:
            now = time.time()
            with open(latency_file, "a") as out:  # noqa: ASYNC230 (tiny append)
                out.write(f"{job.id} {now}\n")

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, qm.shutdown.set)
    from datetime import timedelta

    await qm.run(batch_size=batch_size, dequeue_timeout=timedelta(seconds=30))


# --- measurements -------------------------------------------------------------------------


async def throughput(
    system: Any, url: str, workers: int, jobs: int
) -> tuple[float, str, tuple[float, float]]:
    """Jobs per second, the system's note, and CPU ms per 1,000 jobs (workers, server)."""
    connection = await asyncpg.connect(url)
    processes = system.worker_for_throughput(workers)
    try:
        await wait_until(lambda: system.ready(connection, workers), 0.05, 60)
        await system.clear(connection)
        await asyncio.sleep(0.5)
        backends = await backend_pids(connection)
        before = cpu_seconds([p.pid for p in processes]), cpu_seconds(backends)
        async with connection.transaction():
            await system.enqueue(connection, jobs)
        started = time.perf_counter()

        async def drained() -> bool:
            return bool(await system.drained(connection))

        await wait_until(drained, 0.01, 600)
        elapsed = time.perf_counter() - started
        # Backends opened during the round (a pool growing) count too, from 0.
        backends = sorted(set(backends) | set(await backend_pids(connection)))
        after = cpu_seconds([p.pid for p in processes]), cpu_seconds(backends)
        per_thousand = tuple(1e6 * (a - b) / jobs for a, b in zip(after, before, strict=True))
        note = await system.check(connection, jobs)
        return jobs / elapsed, note, (per_thousand[0], per_thousand[1])
    finally:
        stop(processes)
        await system.clear(connection)
        await connection.close()


async def wakeup_latency(system: Any, url: str, samples: int) -> tuple[float, float]:
    connection = await asyncpg.connect(url)
    latency_file = f"/tmp/bench-latency-{uuid.uuid4().hex}"
    Path(latency_file).touch()  # noqa: ASYNC240
    processes = system.worker_for_latency(latency_file)
    committed: dict[str, float] = {}
    try:
        await wait_until(lambda: system.ready(connection, 1), 0.05, 60)
        await asyncio.sleep(0.5)
        for _ in range(samples):
            [job_id] = await system.enqueue(connection, 1)
            committed[job_id] = time.time()
            await asyncio.sleep(0.02)

        def seen() -> dict[str, float]:
            out = {}
            for line in Path(latency_file).read_text().splitlines():
                key, value = line.split()
                out[key] = float(value)
            return out

        async def all_seen() -> bool:
            return len(seen()) >= samples

        await wait_until(all_seen, 0.05, 120)
        started = seen()
        latencies = [(started[k] - committed[k]) * 1000 for k in committed]
        return percentile(latencies, 0.5), percentile(latencies, 0.99)
    finally:
        stop(processes)
        await system.clear(connection)
        await connection.close()
        Path(latency_file).unlink(missing_ok=True)  # noqa: ASYNC240


async def bench(
    server: str, jobs: int, samples: int, concurrency: int, workers: list[int], only: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    ours_db, pgq_db = f"bench_ours_{suffix}", f"bench_pgq_{suffix}"
    await admin(server, f'CREATE DATABASE "{ours_db}"')
    await admin(server, f'CREATE DATABASE "{pgq_db}"')
    try:
        ours_url, pgq_url = with_database(server, ours_db), with_database(server, pgq_db)
        systems: list[tuple[Any, str]] = [
            (Ours(ours_url, concurrency), ours_url),
            (PGQueuer(pgq_url, 10, "defaults (batch 10)"), pgq_url),
            (PGQueuer(pgq_url, 100, "tuned (batch 100)"), pgq_url),
        ]
        systems = [(s, u) for s, u in systems if only in s.name.lower()]
        for url in dict.fromkeys(url for _, url in systems):  # each database once
            await next(s for s, u in systems if u == url).setup()
        version = await server_version(server)
        print(f"server: PostgreSQL {version}; {os.cpu_count()} CPUs; jobs per round {jobs}")
        print(f"backtest-worker concurrency per process: {concurrency}")
        for system, url in systems:
            for count in workers:
                rate, note, (worker_ms, server_ms) = await throughput(system, url, count, jobs)
                print(
                    f"{system.name:<32} {count} worker(s): {rate:9,.0f} jobs/s  ({note}); "
                    f"CPU ms per 1k jobs: workers {worker_ms:,.0f}, PostgreSQL {server_ms:,.0f}"
                )
            p50, p99 = await wakeup_latency(system, url, samples)
            print(f"{system.name:<32} wake-up latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    finally:
        await admin(server, f'DROP DATABASE IF EXISTS "{ours_db}" WITH (FORCE)')
        await admin(server, f'DROP DATABASE IF EXISTS "{pgq_db}" WITH (FORCE)')


async def server_version(url: str) -> str:
    connection = await asyncpg.connect(url)
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER)
    )
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--only", default="", help="only systems whose name contains this")
    parser.add_argument("--pgqueuer-worker", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=10, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pgqueuer_worker:
        asyncio.run(
            pgqueuer_worker(os.environ["DATABASE_URL"], args.batch_size, args.pgqueuer_worker)
        )
        return
    workers = [int(n) for n in args.workers.split(",")]
    asyncio.run(
        bench(args.database_url, args.jobs, args.samples, args.concurrency, workers, args.only)
    )


if __name__ == "__main__":
    main()
