"""`backtest-worker serve` behind PgBouncer in transaction mode: the catalog writes
(SQLAlchemy), the enqueue and reads (asyncpg) through the pooler with the statement caches
off, the hub's LISTEN on DATABASE_LISTEN_URL; a pooled worker runs the run, and its progress
and completion reach the SSE stream."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from tests.api.server import ApiServer, add_key, bearer
from tests.api.test_flow import setup_catalog, sse_messages
from tests.e2e.test_pgbouncer import no_statement_errors, pooled_worker
from tests.pgbouncer import PgBouncer, pgbouncer  # noqa: F401


async def test_the_api_behind_pgbouncer_enqueues_and_streams_a_run_to_completion(
    pgbouncer: PgBouncer,  # noqa: F811
    database_url: str,
    conn: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    database = make_url(database_url).database
    assert database is not None
    api = ApiServer(
        pgbouncer.url(database),
        tmp_path,
        database_listen_url=database_url,
        database_statement_cache=0,
    )
    try:
        await api.ready()
        secret = await add_key(conn, "write")
        async with httpx.AsyncClient(
            base_url=api.url, headers=bearer(secret), timeout=60
        ) as client:
            strategy_id, dataset_id = await setup_catalog(client, tmp_path)
            body = {"dataset_id": dataset_id, "strategy_id": strategy_id}
            created = await client.post("/api/v1/runs", json=body)
            assert created.status_code == 201, created.text
            run = created.json()
            async with client.stream("GET", run["links"]["stream"]) as response:
                assert response.status_code == 200
                worker = pooled_worker(pgbouncer, database_url, tmp_path, "--burst")
                messages = await asyncio.wait_for(sse_messages(response), 180)
            assert await worker.wait(within=120) == 0, worker.log_text()[-3000:]
            assert messages[-1][0] == "completed" and messages[-1][1]["status"] == "succeeded"
            listed = await client.get("/api/v1/runs", params={"status": "succeeded"})
            assert [r["id"] for r in listed.json()["items"]] == [run["id"]], listed.text
    finally:
        api.stop()
    assert "prepared statement" not in api.log_text(), api.log_text()[-3000:]
    no_statement_errors(worker, pgbouncer)
