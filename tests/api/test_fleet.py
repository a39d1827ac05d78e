"""Operating the fleet over HTTP against a real API and a real worker: queue-wide metrics,
the workers list (idle ones too), pause/resume, retry."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api.server import ApiServer, add_key, bearer
from tests.db.connections import worker_connection
from tests.db.test_sweep_triggers import WORKER, claim, sweep
from tests.queue.helpers import WorkerProcess, insert_runs, wait_for
from worker.queue import queries


def values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_queue_metrics_workers_pause_resume_and_retry(
    api: ApiServer,
    client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    database_url: str,
    tmp_path: Path,
) -> None:
    reader = await add_key(conn, "read")
    async with httpx.AsyncClient(base_url=api.url, headers=bearer(reader)) as read_only:
        assert (await read_only.post("/api/v1/queue/pause")).status_code == 403
        assert (await read_only.get("/metrics")).status_code == 200
    assert (await httpx.AsyncClient(base_url=api.url).get("/metrics")).status_code == 401

    paused = await client.post("/api/v1/queue/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert paused.json()["changed_by"].startswith("api:test-")
    ids = await insert_runs(conn, 4, priority=5)
    [doomed] = await insert_runs(conn, 1, config={"fail": "permanent"}, max_attempts=1)
    await conn.execute(
        "UPDATE runs SET created_at = now() - interval '1 minute', "
        "run_after = now() - interval '1 minute'"
    )

    scrape = values((await client.get("/metrics")).text)
    assert scrape[("backtest_queue_runs", (("priority", "5"), ("status", "pending")))] == 4
    assert scrape[("backtest_queue_runs", (("priority", "0"), ("status", "pending")))] == 1
    assert scrape[("backtest_queue_oldest_runnable_age_seconds", ())] >= 60
    assert scrape[("backtest_queue_paused", ())] == 1
    assert 0 <= scrape[("backtest_notification_queue_usage", ())] < 1
    assert {labels for name, labels in scrape if name == "backtest_table_dead_tuple_ratio"} == {
        (("table", "events"),),
        (("table", "runs"),),
    }

    worker = WorkerProcess(database_url, tmp_path)
    try:
        await wait_for(conn, "SELECT count(*) = 1 FROM workers WHERE state = 'running'")
        listed = (await client.get("/api/v1/workers")).json()
        assert [(w["alive"], w["running_runs"], w["pid"]) for w in listed] == [
            (True, 0, worker.pid)
        ]
        assert (await client.get("/api/v1/queue")).json()["runs"]["pending"] == 5

        resumed = await client.post("/api/v1/queue/resume")
        assert resumed.json()["paused"] is False
        await wait_for(conn, "SELECT count(*) = 5 FROM runs WHERE finished_at IS NOT NULL")
        assert (await client.get(f"/api/v1/runs/{ids[0]}/retry")).status_code == 405
        refused = await client.post(f"/api/v1/runs/{ids[0]}/retry")
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == "application/problem+json"

        retried = await client.post(f"/api/v1/runs/{doomed}/retry", json={"attempts": 2})
        assert retried.status_code == 200, retried.text
        body = retried.json()
        assert body["status"] in ("pending", "running", "failed")
        assert body["max_attempts"] == 3
        await wait_for(
            conn, "SELECT attempts = 2 AND status = 'failed' FROM runs WHERE id = $1", doomed
        )
        events = (await client.get(f"/api/v1/runs/{doomed}/events")).json()["items"]
        assert "retry_requested" in [e["event_type"] for e in events]
        missing = await client.post("/api/v1/runs/00000000-0000-0000-0000-000000000000/retry")
        assert missing.status_code == 404
    finally:
        worker.signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), 60) == 0
    stopped = (await client.get("/api/v1/workers")).json()
    assert [(w["state"], w["alive"]) for w in stopped] == [("stopped", False)]


async def test_retrying_a_sweep_and_refusing_its_child(
    client: httpx.AsyncClient, conn: asyncpg.Connection, database_url: str
) -> None:
    db = await worker_connection(database_url)
    try:
        parent, (failing, _pending) = await sweep(conn, db, 2)
        await claim(conn, failing)
        error = {"type": "dataset_missing", "message": "gone", "detail": {}}
        assert await queries.fail(db, WORKER, [(failing, 1, error)]) == {failing}
    finally:
        await db.close()
    refused = await client.post(f"/api/v1/runs/{failing}/retry")
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert f"child of sweep {parent}: retry the sweep" in refused.json()["detail"]
    retried = await client.post(f"/api/v1/runs/{parent}/retry", json={"attempts": 2})
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "waiting"
    states = await conn.fetch("SELECT status::text FROM runs WHERE parent_id = $1", parent)
    assert {r["status"] for r in states} == {"pending"}
