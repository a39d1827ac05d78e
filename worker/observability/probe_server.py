"""The small HTTP server of a worker process on METRICS_PORT: `/metrics` (Prometheus text),
`/healthz` (liveness) and `/readyz` (readiness).

It runs on the worker's event loop, so a loop that is blocked stops answering `/healthz` and
is restarted by the orchestrator, which is what a liveness probe is for. Requests are plain
`GET`s from Prometheus and probes: one request per connection, answered and closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from worker.queue.looper import Loop

ReadyCheck = Callable[[], Awaitable[dict[str, Any]]]
MAX_REQUEST_BYTES = 8192
READ_TIMEOUT_SECONDS = 5.0


class ProbeServer(Loop):
    name = "probe_server"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        registry: CollectorRegistry,
        readiness: ReadyCheck,
        log: Any,
    ) -> None:
        super().__init__()
        self._host = host
        self._port = port
        self._registry = registry
        self._readiness = readiness
        self._log = log
        self.listening = asyncio.Event()
        self.port: int | None = None

    async def _loop(self) -> None:
        try:
            server = await asyncio.start_server(self._serve, self._host, self._port)
        except OSError as error:  # port taken, bad host: the worker works on, unprobed
            self._log.error(
                "probe_server_failed", host=self._host, port=self._port, error=repr(error)
            )
            return
        self.port = server.sockets[0].getsockname()[1]
        self._log.info("probe_server_listening", host=self._host, port=self.port)
        self.listening.set()
        try:
            async with server:
                await server.serve_forever()
        finally:
            self.listening.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
            status, content_type, body = await self._answer(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            status, content_type, body = 400, "text/plain", b"bad request\n"
        except Exception as error:  # a probe must never take the worker down
            self._log.warning("probe_failed", error=repr(error))
            status, content_type, body = 500, "text/plain", b"internal error\n"
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
        head_out = (
            f"HTTP/1.1 {status} {reason.get(status, 'Service Unavailable')}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head_out.encode("ascii") + body)
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def _answer(self, head: bytes) -> tuple[int, str, bytes]:
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3:
            return 400, "text/plain", b"bad request\n"
        method, target, _version = parts
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"GET only\n"
        path = target.split("?", 1)[0]
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self._registry)
        if path == "/healthz":
            return 200, "application/json", b'{"status": "ok"}\n'
        if path == "/readyz":
            checks = await self._readiness()
            ready = bool(checks.pop("ready"))
            body = json.dumps({"status": "ready" if ready else "not ready", **checks})
            return (200 if ready else 503), "application/json", body.encode() + b"\n"
        return 404, "text/plain", b"not found: /metrics, /healthz, /readyz\n"
