"""The whole flow over HTTP with a real worker: strategy, dataset upload, run, live stream to
completion, report download; and the run's events and artifacts as the tables hold them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.api.server import ApiServer
from tests.e2e.test_backtest_runs import drain
from worker.engine.synthetic import generate_bars

SMA = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 40}


async def sse_messages(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) of every SSE message until the server ends the stream."""
    out: list[tuple[str, dict[str, Any]]] = []
    event = None
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:") and event is not None:
            out.append((event, json.loads(line.removeprefix("data:"))))
            event = None
    return out


async def setup_catalog(client: httpx.AsyncClient, tmp_path: Path) -> tuple[str, str]:
    strategy = await client.post("/api/v1/strategies", json={"name": "sma", "params": SMA})
    assert strategy.status_code == 201, strategy.text
    again = await client.post("/api/v1/strategies", json={"name": "sma", "params": SMA})
    assert again.status_code == 200 and again.json()["id"] == strategy.json()["id"]
    bars = tmp_path / "bars.csv"
    generate_bars(symbols=["AAA", "BBB"], n_bars=300, seed=3).write_csv(bars)
    with bars.open("rb") as handle:
        dataset = await client.post(
            "/api/v1/datasets",
            files={"file": ("bars.csv", handle, "text/csv")},
            data={"name": "two symbols", "timeframe": "1d"},
        )
    assert dataset.status_code == 201, dataset.text
    assert dataset.json()["row_count"] == 600 and dataset.json()["symbols"] == ["AAA", "BBB"]
    return strategy.json()["id"], dataset.json()["id"]


async def test_strategy_upload_run_stream_and_report(
    api: ApiServer,
    client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    database_url: str,
    tmp_path: Path,
) -> None:
    strategy_id, dataset_id = await setup_catalog(client, tmp_path)
    body = {"dataset_id": dataset_id, "strategy_id": strategy_id, "config": {"commission": 0.001}}
    headers = {"Idempotency-Key": "flow-1"}
    created = await client.post("/api/v1/runs", json=body, headers=headers)
    assert created.status_code == 201, created.text
    run = created.json()
    assert run["status"] == "pending" and created.headers["location"] == run["links"]["self"]
    replay = await client.post("/api/v1/runs", json=body, headers=headers)
    assert replay.status_code == 200 and replay.json()["id"] == run["id"]
    assert replay.headers["idempotent-replayed"] == "true"
    assert await conn.fetchval("SELECT count(*) FROM runs") == 1
    assert (
        await conn.fetchval("SELECT idempotency_key FROM runs WHERE id = $1", uuid.UUID(run["id"]))
        == "flow-1"
    )

    async with client.stream("GET", run["links"]["stream"]) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        worker = asyncio.create_task(drain(database_url, tmp_path))
        messages = await asyncio.wait_for(sse_messages(response), 180)
    await worker
    kinds = [kind for kind, _ in messages]
    assert kinds[-1] == "completed" and kinds.count("completed") == 1
    assert set(kinds[:-1]) <= {"progress"}
    final = messages[-1][1]
    assert final["run_id"] == run["id"] and final["status"] == "succeeded"
    assert isinstance(final["total_trades"], int)

    done = (await client.get(run["links"]["self"])).json()
    assert done["status"] == "succeeded" and done["progress"]["pct"] == 100
    assert float(done["total_return"]) == final["total_return"]

    artifacts = (await client.get(run["links"]["artifacts"])).json()
    report = next(a for a in artifacts if a["filename"] == "report.html")
    assert "storage_path" not in report
    download = await client.get(report["download"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/html; charset=utf-8"
    assert int(download.headers["content-length"]) == report["size_bytes"] == len(download.content)
    assert hashlib.sha256(download.content).hexdigest() == report["sha256"]
    assert download.headers["etag"] == f'"{report["sha256"]}"'
    cached = await client.get(
        report["download"], headers={"If-None-Match": download.headers["etag"]}
    )
    assert cached.status_code == 304 and cached.content == b""

    late = await client.get(run["links"]["stream"])
    assert [kind for kind, _ in await sse_messages(late)] == ["completed"]


async def test_events_page_by_id_and_type(
    api: ApiServer,
    client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    database_url: str,
    tmp_path: Path,
) -> None:
    strategy_id, dataset_id = await setup_catalog(client, tmp_path)
    run = (
        await client.post(
            "/api/v1/runs", json={"dataset_id": dataset_id, "strategy_id": strategy_id}
        )
    ).json()
    await drain(database_url, tmp_path)
    expected = [
        row["id"]
        for row in await conn.fetch(
            "SELECT id FROM events WHERE run_id = $1 ORDER BY id", uuid.UUID(run["id"])
        )
    ]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(run["links"]["events"], params=params)).json()
        seen += [event["id"] for event in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected and len(expected) > 7
    exits = (await client.get(run["links"]["events"], params={"type": "trade_exit"})).json()
    assert exits["items"] and {e["event_type"] for e in exits["items"]} == {"trade_exit"}


async def test_an_artifact_name_cannot_leave_its_run(
    api: ApiServer, client: httpx.AsyncClient, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    """A row pointing outside ARTIFACT_DIR/<run id>/ is not served, whatever its name."""
    strategy_id, dataset_id = await setup_catalog(client, tmp_path)
    run = (
        await client.post(
            "/api/v1/runs", json={"dataset_id": dataset_id, "strategy_id": strategy_id}
        )
    ).json()
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    outside = tmp_path / "artifacts" / run["id"] / ".." / ".." / "secret.txt"
    await conn.execute(
        """
        INSERT INTO artifacts (run_id, kind, filename, storage_path, mime_type, size_bytes, sha256)
        VALUES ($1, 'csv', 'evil.csv', $2, 'text/csv', 9, $3)
        """,
        uuid.UUID(run["id"]),
        str(outside),
        hashlib.sha256(b"not yours").hexdigest(),
    )
    base = f"/api/v1/runs/{run['id']}/artifacts"
    refused = await client.get(f"{base}/evil.csv")
    assert refused.status_code == 404 and b"not yours" not in refused.content
    assert refused.headers["content-type"] == "application/problem+json"
    for name in ("..%2F..%2Fsecret.txt", "%2E%2E", "%2E%2E%2Fsecret.txt"):
        response = await client.get(f"{base}/{name}")
        assert response.status_code in (404, 422), (name, response.status_code)
        assert b"not yours" not in response.content
