"""HTTP API benchmark: prints figures, is not a test.

    .venv/bin/python -m bench.api [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                                  [--seconds 5] [--clients 50] [--subscribers 1000]
                                  [--sse-processes 2] [--sse-client raw|aiohttp]

Starts one `backtest-worker serve` process (one uvicorn worker) on its own database and
measures, with an aiohttp load generator in this process and SSE clients in
`--sse-processes` processes of their own (bench/sse_clients.py; all on the same machine, so
they compete for the same cores; each side's CPU is printed):

* `POST /runs` (the contract's INSERT, a write key, JSON validated) and then `GET /runs/{id}`:
  requests per second and p50/p99 latency with `--clients` concurrent keep-alive clients,
  each sending its next request when the last is answered (closed loop: by Little's law 50
  clients at 1,000/s wait 50 ms on average); and `POST /runs` open loop, at
  `--open-loop-rate` per second over `--clients` connections whatever the answers' pace;
* `--subscribers` concurrent SSE streams on one API process: the PostgreSQL connections the
  API holds meanwhile, and the delay from a `run_completed` commit to each client receiving
  its `completed` message: once with every stream on one run (one notification fanned out),
  once with one stream per run and all runs cancelled in one statement.

No worker runs: the runs stay pending, and the completions are cancellations (the same
trigger and payload as a finished backtest).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from sqlalchemy.engine import make_url

from bench.cpu import backend_pids, cpu_seconds, with_children
from bench.sse_clients import SseClients, subscribers

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
BIN = Path(sys.executable).parent / "backtest-worker"


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def setup(url: str) -> tuple[str, str, str]:
    from worker.admin.apikeys import hash_key, new_key

    conn = await asyncpg.connect(url)
    try:
        dataset = await conn.fetchval(
            """
            INSERT INTO datasets (name, symbols, timeframe, start_date, end_date, row_count,
                                  storage_uri, hash)
            VALUES ('bench', ARRAY['AAA'], '1d', '2020-01-01Z', '2020-12-31Z', 252,
                    '/nonexistent.parquet', md5('a') || md5('b'))
            RETURNING id
            """
        )
        strategy = await conn.fetchval(
            "INSERT INTO strategies (name, params) VALUES ('bench', '{\"kind\": \"buy_and_hold\"}')"
            " RETURNING id"
        )
        key = new_key()
        await conn.execute(
            "INSERT INTO api_keys (name, scope, prefix, key_hash) VALUES ('bench', 'write', $1, $2)",
            key[:12],
            hash_key(key),
        )
    finally:
        await conn.close()
    return str(dataset), str(strategy), key


async def load(
    session: aiohttp.ClientSession, clients: int, seconds: float, request: Any
) -> tuple[float, list[float], list[Any]]:
    """`clients` loops calling `request(session, i)` for `seconds`; rate, latencies (ms), results."""
    latencies: list[float] = []
    results: list[Any] = []
    stop = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def client() -> None:
        while time.perf_counter() < stop:
            began = time.perf_counter()
            results.append(await request(session, next(counter)))
            latencies.append((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return len(latencies) / (time.perf_counter() - began), latencies, results


async def open_loop(
    session: aiohttp.ClientSession, offered: float, seconds: float, request: Any
) -> tuple[float, list[float]]:
    """`offered` requests per second at fixed intervals, whatever the answers' pace (the
    session's connector bounds the connections; a request waiting for one waits in its
    latency too); the rate done and each latency (ms) from its scheduled start."""
    latencies: list[float] = []
    began = time.perf_counter()

    async def one(i: int, due: float) -> None:
        await request(session, i)
        latencies.append((time.perf_counter() - due) * 1000)

    tasks = []
    for i in range(int(offered * seconds)):
        due = began + i / offered
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    return len(latencies) / (time.perf_counter() - began), latencies


class CpuMeter:
    """CPU time of the API process(es), of their PostgreSQL backends and of this load
    generator, between `start()` and `per()`."""

    def __init__(self, api_pid: int, url: str) -> None:
        self.api_pid, self.url = api_pid, url

    async def _pids(self) -> dict[str, list[int]]:
        connection = await asyncpg.connect(self.url)
        try:
            backends = await backend_pids(connection)
        finally:
            await connection.close()
        return {"api": with_children(self.api_pid), "postgres": backends, "client": [os.getpid()]}

    async def start(self) -> None:
        self.pids = await self._pids()
        self.before = {side: cpu_seconds(pids) for side, pids in self.pids.items()}

    def per(self, requests: int) -> str:
        used = {side: cpu_seconds(pids) - self.before[side] for side, pids in self.pids.items()}
        return ", ".join(f"{side} {1000 * s / requests:.2f}" for side, s in used.items())


def start_api(port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--workers", str(workers)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def bench(
    server: str, seconds: float, clients: int, offered: int, sse: SseClients, workers: int
) -> None:
    from worker.db.migrate import upgrade

    name = f"bench_api_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    proc = None
    try:
        await asyncio.to_thread(upgrade, url)
        dataset, strategy, key = await setup(url)
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "WORKER_ENV_FILE": "/nonexistent",
            "API_RATE_LIMIT": "1000000/second",
            "LOG_LEVEL": "WARNING",
        }
        proc = start_api(port, workers, env)
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        body = json.dumps(
            {"dataset_id": dataset, "strategy_id": strategy, "config": {"commission": 0.001}}
        )
        async with aiohttp.ClientSession(
            base, headers=headers, connector=aiohttp.TCPConnector(limit=clients)
        ) as session:
            for _ in range(300):
                try:
                    async with session.get("/readyz") as ready:
                        if ready.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

            async def post(s: aiohttp.ClientSession, _i: int) -> str:
                async with s.post(
                    "/api/v1/runs", data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    assert response.status == 201, await response.text()
                    return str((await response.json())["id"])

            await load(session, clients, 1.0, post)  # warm-up: pool, prepared statements
            cpu = CpuMeter(proc.pid, url)
            await cpu.start()
            rate, latencies, ids = await load(session, clients, seconds, post)
            print(
                f"POST /runs      {rate:7.0f} req/s  p50 {statistics.median(latencies):6.1f} ms"
                f"  p99 {pct(latencies, 0.99):6.1f} ms  ({len(latencies)} requests, {clients} clients)"
            )
            print(f"  CPU ms per request: {cpu.per(len(latencies))}")
            if offered:
                await cpu.start()
                rate, latencies = await open_loop(session, offered, seconds, post)
                print(
                    f"POST /runs open loop, {offered} req/s offered over {clients} connections:"
                    f" {rate:.0f} req/s done, p50 {statistics.median(latencies):.1f} ms,"
                    f" p99 {pct(latencies, 0.99):.1f} ms (from each request's scheduled start)"
                )
                print(f"  CPU ms per request: {cpu.per(len(latencies))}")
            await cpu.start()

            async def get(s: aiohttp.ClientSession, i: int) -> None:
                async with s.get(f"/api/v1/runs/{ids[i % len(ids)]}") as response:
                    assert response.status == 200
                    await response.read()

            rate, latencies, _ = await load(session, clients, seconds, get)
            print(
                f"GET /runs/{{id}}  {rate:7.0f} req/s  p50 {statistics.median(latencies):6.1f} ms"
                f"  p99 {pct(latencies, 0.99):6.1f} ms  ({len(latencies)} requests, {clients} clients)"
            )
            print(f"  CPU ms per request: {cpu.per(len(latencies))}")

        pool = await asyncpg.create_pool(url, min_size=10, max_size=10)
        try:
            statement = (ROOT / "worker" / "api" / "sql" / "insert_run.sql").read_text()
            args = (uuid.UUID(dataset), uuid.UUID(strategy), 10000, '{"commission": 0.001}')
            rest = ("backtest", 0, None, 3, None)
            done: list[float] = []

            async def insert() -> None:
                stop = time.perf_counter() + seconds
                while time.perf_counter() < stop:
                    began = time.perf_counter()
                    await pool.fetchrow(statement, *args, *rest)
                    done.append((time.perf_counter() - began) * 1000)

            began = time.perf_counter()
            await asyncio.gather(*(insert() for _ in range(clients)))
            print(
                f"the same INSERT over asyncpg (10 connections, no HTTP): "
                f"{len(done) / (time.perf_counter() - began):.0f}/s, p50 "
                f"{statistics.median(done):.1f} ms, p99 {pct(done, 0.99):.1f} ms"
            )
        finally:
            await pool.close()
        if workers > 1:
            return
        conn = await asyncpg.connect(url)
        try:
            for label, run_ids in (
                ("one run", ids[:1]),
                (f"{sse.count} runs", ids[1 : 1 + sse.count]),
            ):
                cpu = CpuMeter(proc.pid, url)
                await cpu.start()
                connections, delays, client_cpu = await subscribers(port, key, conn, run_ids, sse)
                sse_cpu = cpu.per(sse.count)
                print(
                    f"SSE {sse.count} subscribers on {label}: PostgreSQL connections"
                    f" {connections}; run_completed commit -> client p50"
                    f" {statistics.median(delays):.1f} ms, p99 {pct(delays, 0.99):.1f} ms,"
                    f" max {max(delays):.1f} ms"
                )
                print(
                    f"  CPU ms per subscriber (connect, stream, close): {sse_cpu},"
                    f" {sse.processes} {sse.client} client processes"
                    f" {1000 * client_cpu / sse.count:.2f}"
                )
        finally:
            await conn.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(20)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER)
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--open-loop-rate",
        type=int,
        default=1000,
        help="POST /runs per second offered over --clients connections (0: skip)",
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument(
        "--sse-processes", type=int, default=2, help="client processes the streams are spread over"
    )
    parser.add_argument(
        "--sse-client",
        choices=("raw", "aiohttp"),
        default="raw",
        help="bench/sse_clients.py: a bare asyncio protocol, or aiohttp's line reader",
    )
    parser.add_argument(
        "--api-workers",
        type=int,
        default=1,
        help="uvicorn processes (SSE needs 1: healthz counts one)",
    )
    args = parser.parse_args()
    asyncio.run(
        bench(
            args.database_url,
            args.seconds,
            args.clients,
            args.open_loop_rate,
            SseClients(args.subscribers, args.sse_processes, args.sse_client),
            args.api_workers,
        )
    )


if __name__ == "__main__":
    main()
