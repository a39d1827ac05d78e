"""Live progress: WebSocket and SSE to completion, final state at once after completion,
clients that leave mid-stream, many subscribers on one LISTEN connection, and a LISTEN
connection that is killed while a run finishes."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.api.server import ApiServer, add_key, bearer
from tests.api.test_flow import sse_messages
from tests.e2e.test_backtest_runs import add_dataset, add_run, add_strategy, drain
from tests.queue.helpers import insert_runs

SMA = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 40}


def ws_url(api: ApiServer, run_id: uuid.UUID | str) -> str:
    return f"ws://127.0.0.1:{api.port}/api/v1/runs/{run_id}/ws"


async def ws_messages(api: ApiServer, run_id: uuid.UUID | str, secret: str) -> list[dict[str, Any]]:
    out = []
    async with connect(ws_url(api, run_id), additional_headers=bearer(secret)) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                out.append(json.loads(await socket.recv()))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    return out


async def until(predicate: Any, within: float = 20) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while not await predicate():
        assert loop.time() < give_up, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_websocket_progress_then_one_completed_then_close(
    api: ApiServer, conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    secret = await add_key(conn, "read")
    run_id = await add_run(
        conn, await add_dataset(conn, tmp_path / "data"), await add_strategy(conn, SMA)
    )
    listening = asyncio.create_task(ws_messages(api, run_id, secret))
    async with httpx.AsyncClient(base_url=api.url) as http:
        await until(lambda: _subscribers(http, 1))
    await drain(database_url, tmp_path)
    messages = await asyncio.wait_for(listening, 60)
    events = [m["event"] for m in messages]
    assert events[-1] == "completed" and set(events[:-1]) <= {"progress"}
    assert messages[-1]["data"]["status"] == "succeeded"
    assert messages[-1]["data"]["run_id"] == str(run_id)

    after = await ws_messages(api, run_id, secret)
    assert [m["event"] for m in after] == ["completed"]
    assert after[0]["data"]["total_trades"] == messages[-1]["data"]["total_trades"]

    with pytest.raises(InvalidStatus):
        async with connect(ws_url(api, run_id)):
            pass
    token_url = f"{ws_url(api, run_id)}?access_token={secret}"
    async with connect(token_url) as socket:
        assert json.loads(await socket.recv())["event"] == "completed"


async def _subscribers(http: httpx.AsyncClient, count: int) -> bool:
    return bool((await http.get("/healthz")).json()["subscribers"] == count)


async def test_clients_that_leave_mid_stream_are_unsubscribed(
    api: ApiServer, client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    (run_id,) = await insert_runs(conn)
    secret = client.headers["authorization"].removeprefix("Bearer ")
    sse = httpx.AsyncClient(base_url=api.url, headers=bearer(secret), timeout=30)
    stream = await sse.send(sse.build_request("GET", f"/api/v1/runs/{run_id}/stream"), stream=True)
    socket = await connect(ws_url(api, run_id), additional_headers=bearer(secret))
    await until(lambda: _subscribers(client, 2))
    await stream.aclose()
    await sse.aclose()
    await socket.close()
    await until(lambda: _subscribers(client, 0))

    cancelled = await client.post(f"/api/v1/runs/{run_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    late = await client.get(f"/api/v1/runs/{run_id}/stream")
    assert [(k, d["status"]) for k, d in await sse_messages(late)] == [("completed", "cancelled")]


async def _listen_backends(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'backtest-api-listen'
            """
        )
    )


async def test_many_subscribers_one_listen_connection_that_survives_being_killed(
    api: ApiServer, client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    """Twenty streams share one LISTEN connection; it is killed and the run cancelled while
    it is away: every stream still gets the completion (re-read after the reconnect)."""
    (run_id,) = await insert_runs(conn)
    url = f"/api/v1/runs/{run_id}/stream"
    streams = [asyncio.create_task(sse_messages_of(client, url)) for _ in range(20)]
    await until(lambda: _subscribers(client, 20))
    assert await _listen_backends(conn) == 1

    await conn.execute(
        """
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'backtest-api-listen'
        """
    )
    await conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", run_id)
    results = await asyncio.wait_for(asyncio.gather(*streams), 60)
    for messages in results:
        assert messages[-1] == ("completed", "cancelled")
    await until(lambda: _listening(client))
    assert await _listen_backends(conn) == 1
    assert "api_hub_connection_lost" in api.log_text()


async def _listening(http: httpx.AsyncClient) -> bool:
    return bool((await http.get("/healthz")).json()["listening"])


async def sse_messages_of(http: httpx.AsyncClient, url: str) -> list[tuple[str, str]]:
    async with http.stream("GET", url) as response:
        return [(kind, data.get("status", "")) for kind, data in await sse_messages(response)]


async def test_streams_end_at_once_when_the_server_stops(
    database_url: str, tmp_path: Path, conn: asyncpg.Connection
) -> None:
    """SIGTERM: the SSE stream ends cleanly (a complete chunked body, no completion) and the
    WebSocket closes with 1012 while the run is still pending, and the server exits without
    waiting out its graceful-shutdown timeout (which would cancel the streams instead)."""
    (run_id,) = await insert_runs(conn)
    secret = await add_key(conn, "read")
    server = ApiServer(database_url, tmp_path)
    try:
        await server.ready()
        async with httpx.AsyncClient(base_url=server.url, headers=bearer(secret)) as http:
            sse = asyncio.create_task(sse_messages_of(http, f"/api/v1/runs/{run_id}/stream"))
            socket = await connect(ws_url(server, run_id), additional_headers=bearer(secret))
            await until(lambda: _subscribers(http, 2))
            server.proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(sse, 15) == []
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 15)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        await asyncio.to_thread(server.proc.wait, 15)
        assert "Finished server process" in server.log_text()
        assert "graceful shutdown exceeded" not in server.log_text()
    finally:
        server.stop()
