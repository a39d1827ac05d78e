"""SSE subscribers for `bench/api.py`, in processes of their own, so that the API process's
work is what the delay measures and the client's CPU is counted apart: `subscribers()`
starts them and cancels the runs; each is

    python -m bench.sse_clients PORT KEY {raw,aiohttp}

Reads one JSON line (the run ids, one stream each), prints `ready`, waits for `go`, opens
every stream, and when each has received its `event: completed` prints one JSON line: the
wall-clock time each completion arrived and the CPU seconds this process used since `go`.

`raw` is an asyncio protocol that only looks for the completion in the bytes (a browser's
EventSource does about as little); `aiohttp` parses the response and iterates its lines, as
bench/api.py used to in the load generator's own process.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import uvloop  # what the API runs on too (uvicorn picks it)

ROOT = Path(__file__).resolve().parents[1]

COMPLETED = b"event: completed"


class RawStream(asyncio.Protocol):
    def __init__(self, request: bytes, done: asyncio.Future[float]) -> None:
        self.request, self.done = request, done
        self.head = b""
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if len(self.head) < 12:
            self.head += data[:12]
            if len(self.head) >= 12 and not self.head.startswith(b"HTTP/1.1 200"):
                self._finish(RuntimeError(self.head.decode(errors="replace")))
                return
        seen = self.tail + data
        if COMPLETED in seen:
            self._finish(time.time())
        else:
            self.tail = seen[-len(COMPLETED) :]

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(exc or ConnectionError("the stream ended before its completion"))

    def _finish(self, outcome: float | BaseException) -> None:
        if not self.done.done():
            if isinstance(outcome, BaseException):
                self.done.set_exception(outcome)
            else:
                self.done.set_result(outcome)
            self.transport.close()


async def raw(port: int, key: str, run_ids: list[str]) -> list[float]:
    loop = asyncio.get_running_loop()

    async def watch(run_id: str) -> float:
        request = (
            f"GET /api/v1/runs/{run_id}/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
        done: asyncio.Future[float] = loop.create_future()
        await loop.create_connection(lambda: RawStream(request, done), "127.0.0.1", port)
        return await done

    return list(await asyncio.gather(*(watch(run_id) for run_id in run_ids)))


async def with_aiohttp(port: int, key: str, run_ids: list[str]) -> list[float]:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    headers = {"Authorization": f"Bearer {key}"}
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:

        async def watch(run_id: str) -> float:
            async with session.get(f"/api/v1/runs/{run_id}/stream", headers=headers) as response:
                assert response.status == 200, response.status
                async for line in response.content:
                    if line.startswith(COMPLETED):
                        return time.time()
            raise ConnectionError("the stream ended before its completion")

        return list(await asyncio.gather(*(watch(run_id) for run_id in run_ids)))


@dataclass(frozen=True)
class SseClients:
    count: int
    processes: int
    client: str


async def api_connections(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch(
        """
        SELECT application_name, count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name LIKE 'backtest-api%'
        GROUP BY 1
        """
    )
    return {row["application_name"]: row["count"] for row in rows}


async def subscribers(
    port: int, key: str, conn: asyncpg.Connection, run_ids: list[str], sse: SseClients
) -> tuple[dict[str, int], list[float], float]:
    """`sse.count` SSE streams over `run_ids` (round robin), opened by `sse.processes` client
    processes (bench/sse_clients.py); cancel every run in one statement; returns the API's
    connections while they were open, each client's delay (ms) and the clients' CPU seconds."""
    streams = [run_ids[i % len(run_ids)] for i in range(sse.count)]
    clients = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.sse_clients",
            str(port),
            key,
            sse.client,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for _ in range(sse.processes)
    ]
    for i, client in enumerate(clients):
        assert client.stdin is not None and client.stdout is not None
        client.stdin.write(json.dumps(streams[i :: sse.processes]).encode() + b"\n")
        await client.stdin.drain()
        assert await client.stdout.readline() == b"ready\n"
    for client in clients:
        assert client.stdin is not None
        client.stdin.write(b"go\n")
        await client.stdin.drain()
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
        give_up = time.monotonic() + 120
        while True:
            async with session.get("/healthz") as health:
                if (await health.json())["subscribers"] >= sse.count:
                    break
            if time.monotonic() > give_up:
                raise SystemExit("the subscribers did not all connect")
            await asyncio.sleep(0.2)
    connections = await api_connections(conn)
    await conn.execute(
        "UPDATE runs SET cancel_requested = true WHERE id = ANY($1::uuid[])",
        [uuid.UUID(r) for r in run_ids],
    )
    committed = time.time()
    received: list[float] = []
    cpu = 0.0
    for client in clients:
        out, _ = await asyncio.wait_for(client.communicate(), 120)
        result = json.loads(out)
        received += result["received"]
        cpu += result["cpu"]
    return connections, [(t - committed) * 1000 for t in received], cpu


def main() -> None:
    port, key, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    run_ids = json.loads(sys.stdin.readline())
    print("ready", flush=True)
    sys.stdin.readline()
    began = time.process_time()
    client = raw if kind == "raw" else with_aiohttp
    received = uvloop.run(client(port, key, run_ids))
    print(json.dumps({"received": received, "cpu": time.process_time() - began}), flush=True)


if __name__ == "__main__":
    main()
