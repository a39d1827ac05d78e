"""A commit whose acknowledgement is lost: the worker says the run succeeded, not that it
lost its lease.

A TCP proxy between a real worker and PostgreSQL forwards everything, until the worker's
first `complete_batch` statement: the proxy lets the server execute (and, the statement
being alone, commit) it, then closes the connection instead of passing on the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from tests.queue.helpers import WorkerProcess, event_types, insert_runs, run_row

MARKER = b"SET status = 'succeeded'"


class CutAfterCommit:
    """Forwards PostgreSQL's protocol; drops the reply to the first marked statement."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.cut = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self._target)
        swallow = asyncio.Event()

        async def upstream() -> None:
            statement: bytes | None = None
            length = struct.unpack("!I", await client_r.readexactly(4))[0]
            server_w.write(struct.pack("!I", length) + await client_r.readexactly(length - 4))
            while True:
                kind = await client_r.readexactly(1)
                size = await client_r.readexactly(4)
                body = await client_r.readexactly(struct.unpack("!I", size)[0] - 4)
                if kind == b"P" and MARKER in body and not self.cut.is_set():
                    statement = body.split(b"\0", 1)[0]
                if kind == b"B" and statement is not None and not self.cut.is_set():
                    _portal, rest = body.split(b"\0", 1)
                    if rest.split(b"\0", 1)[0] == statement:
                        self.cut.set()
                        swallow.set()
                server_w.write(kind + size + body)
                await server_w.drain()

        async def downstream() -> None:
            while True:
                kind = await server_r.readexactly(1)
                size = await server_r.readexactly(4)
                body = await server_r.readexactly(struct.unpack("!I", size)[0] - 4)
                if swallow.is_set():
                    if kind == b"Z":  # the statement is done and committed: cut
                        return
                    continue
                client_w.write(kind + size + body)
                await client_w.drain()

        tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
        with contextlib.suppress(Exception):
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for writer in (client_w, server_w):
            writer.close()


async def test_a_lost_commit_acknowledgement_is_reported_as_a_success(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    url = make_url(database_url)
    proxy = CutAfterCommit(url.host or "127.0.0.1", url.port or 5432)
    port = await proxy.start()
    through_proxy = url.set(port=port, query={"sslmode": "disable"}).render_as_string(
        hide_password=False
    )
    [run_id] = await insert_runs(conn, 1)
    worker = WorkerProcess(through_proxy, tmp_path, "--burst", handler="tests.queue.handlers:noop")
    try:
        assert await worker.wait(within=120) == 0, worker.log_text()[-3000:]
    finally:
        worker.kill()
        await proxy.close()
    assert proxy.cut.is_set(), "the proxy never saw the final write"
    row = await run_row(conn, run_id)
    assert (row["status"], row["attempts"]) == ("succeeded", 1)
    assert (await event_types(conn, run_id)).count("completed") == 1
    assert worker.events("completion_write_retry"), "the first try's reply was not lost"
    [succeeded] = worker.events("run_succeeded")
    assert succeeded["ack_lost"] is True
    assert not worker.events("run_result_discarded") and not worker.events("run_write_fenced_off")
