"""Operating a fleet of real worker processes: metrics and probes on METRICS_PORT, the
workers registry, pause/resume, retry, and refusing an unmigrated database."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
from pathlib import Path

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.queue.helpers import BIN, ROOT, WorkerProcess, insert_runs, wait_for, worker_env
from worker.db import pools
from worker.queue import fleet


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args],
        env=worker_env(database_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


async def wait_http(port: int, path: str, within: float = 60) -> httpx.Response:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while True:
        try:
            return await get(port, path)
        except httpx.TransportError:
            if loop.time() > give_up:
                raise
            await asyncio.sleep(0.1)


async def test_a_drained_workers_metrics_probes_and_registry(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    await insert_runs(conn, 20)
    await insert_runs(conn, 3, config={"fail": "permanent"})
    port = free_port()
    worker = WorkerProcess(database_url, tmp_path, "--concurrency", "3", metrics_port=port)
    try:
        await wait_for(conn, "SELECT count(*) = 23 FROM runs WHERE finished_at IS NOT NULL")
        # the last final write is committed before the worker counts it: wait for the count
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 30
        while True:
            text = (await wait_http(port, "/metrics")).text
            values = samples(text)
            finished = sum(v for (n, _), v in values.items() if n == "backtest_runs_finished_total")
            if finished == 23 or loop.time() > give_up:
                break
            await asyncio.sleep(0.1)
        assert values[("backtest_runs_claimed_total", ())] == 23
        ok = (("error_type", ""), ("status", "succeeded"))
        bad = (("error_type", "invalid_parameters"), ("status", "failed"))
        assert values[("backtest_runs_finished_total", ok)] == 20
        assert values[("backtest_runs_finished_total", bad)] == 3
        assert values[("backtest_run_duration_seconds_count", (("status", "succeeded"),))] == 20
        assert values[("backtest_run_queue_wait_seconds_count", ())] == 23
        assert values[("backtest_claim_duration_seconds_count", ())] >= 1
        assert values[("backtest_runs_in_flight", ())] == 0
        assert values[("backtest_free_slots", ())] == 3
        assert values[("backtest_concurrency", ())] == 3
        assert values[("backtest_listen_reconnects_total", ())] == 0

        health = await get(port, "/healthz")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ready = await get(port, "/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["database"] is True and ready.json()["listening"] is True
        assert (await get(port, "/nope")).status_code == 404

        [row] = await conn.fetch("SELECT * FROM workers")
        assert row["state"] == "running" and row["concurrency"] == 3
        assert row["pid"] == worker.pid
        listed = json.loads(
            (await asyncio.to_thread(cli, database_url, "workers", "--json")).stdout
        )
        assert [(w["worker_id"], w["alive"], w["running_runs"]) for w in listed] == [
            (row["id"], True, 0)
        ]
        status = json.loads((await asyncio.to_thread(cli, database_url, "status", "--json")).stdout)
        assert [w["worker_id"] for w in status["registered_workers"]] == [row["id"]]
        assert status["paused"] is False

        # A LISTEN connection killed from the server side comes back, and is counted.
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE 'backtest-worker/listen/%' AND datname = current_database()"
        )
        give_up = loop.time() + 30
        while (
            samples((await get(port, "/metrics")).text).get(
                ("backtest_listen_reconnects_total", ())
            )
            != 1
        ):
            assert loop.time() < give_up, "the listener did not reconnect"
            await asyncio.sleep(0.1)
    finally:
        worker.signal(signal.SIGTERM)
        code = await worker.wait()
    assert code == 0, worker.log_text()[-3000:]
    assert await conn.fetchval("SELECT state FROM workers") == "stopped"


async def test_pause_stops_claiming_across_the_fleet_and_resume_wakes_it(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    paused = await asyncio.to_thread(cli, database_url, "pause")
    assert paused.returncode == 0 and "paused" in paused.stderr
    port = free_port()
    worker = WorkerProcess(database_url, tmp_path, metrics_port=port, poll_interval_seconds=0.2)
    try:
        await wait_http(port, "/healthz")
        ids = await insert_runs(conn, 5)

        async def claims() -> float:
            values = samples((await get(port, "/metrics")).text)
            return values[("backtest_claim_duration_seconds_count", ())]

        seen = await claims()
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 30
        while await claims() < seen + 3:  # the worker keeps trying; each claim finds nothing
            assert loop.time() < give_up
            await asyncio.sleep(0.1)
        assert await conn.fetchval("SELECT count(*) FROM runs WHERE status = 'pending'") == 5
        status = json.loads((await asyncio.to_thread(cli, database_url, "status", "--json")).stdout)
        assert status["paused"] is True and status["paused_by"].startswith("cli:")

        resumed = await asyncio.to_thread(cli, database_url, "resume")
        assert resumed.returncode == 0 and "resumed" in resumed.stderr
        await wait_for(
            conn, "SELECT count(*) = 5 FROM runs WHERE status = 'succeeded' AND id = ANY($1)", ids
        )
    finally:
        worker.signal(signal.SIGTERM)
        assert await worker.wait() == 0


async def test_retry_a_cancelled_and_a_failed_run(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    [cancelled] = await insert_runs(conn, 1)
    await conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", cancelled)
    [failed] = await insert_runs(conn, 1, config={"fail": "permanent"}, max_attempts=1)
    worker = WorkerProcess(database_url, tmp_path, "--burst")
    assert await worker.wait() == 0
    assert await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", failed) == "failed"

    again = await asyncio.to_thread(cli, database_url, "retry", str(cancelled)[:8])
    assert again.returncode == 0, again.stderr  # a unique start of the id, as tables show it
    assert again.stdout.strip() == str(cancelled)
    row = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", cancelled)
    assert row["status"] == "pending" and not row["cancel_requested"]
    assert row["finished_at"] is None and row["max_attempts"] == 3

    await queries_setup(conn)
    retried = await fleet.retry_run(conn, failed, 2)
    assert retried is not None and (retried.attempts, retried.max_attempts) == (1, 3)
    row = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", failed)
    assert row["status"] == "pending" and row["error"] is None
    [event] = await conn.fetch(
        "SELECT payload FROM events WHERE run_id = $1 AND event_type = 'retry_requested'", failed
    )
    payload = event["payload"]
    assert payload["previous_status"] == "failed"
    assert payload["previous_error"]["type"] == "invalid_parameters"

    worker = WorkerProcess(database_url, tmp_path, "--burst")
    assert await worker.wait() == 0
    rows = {r["id"]: r for r in await conn.fetch("SELECT * FROM runs")}
    assert rows[cancelled]["status"] == "succeeded" and rows[cancelled]["attempts"] == 1
    # a permanent error fails at once again: one more attempt, numbered after the first
    assert rows[failed]["status"] == "failed" and rows[failed]["attempts"] == 2
    claimed = await conn.fetch(
        "SELECT (payload->>'attempt')::int AS a FROM events "
        "WHERE run_id = $1 AND event_type = 'claimed' ORDER BY id",
        failed,
    )
    assert [r["a"] for r in claimed] == [1, 2]  # attempt numbers never repeat

    refused = await asyncio.to_thread(cli, database_url, "retry", str(cancelled))
    assert refused.returncode == 1 and "only a failed or cancelled run" in refused.stderr
    missing = await asyncio.to_thread(cli, database_url, "retry", "ffffffff")
    assert missing.returncode == 1 and "no run with id starting 'ffffffff'" in missing.stderr
    short = await asyncio.to_thread(cli, database_url, "retry", "12")
    assert short.returncode == 2 and "too short" in short.stderr
    # a finished run still cannot be revived by a plain UPDATE
    try:
        await conn.execute("UPDATE runs SET status = 'pending' WHERE id = $1", cancelled)
        raise AssertionError("the guard let a finished run become pending")
    except asyncpg.CheckViolationError:
        pass


async def queries_setup(conn: asyncpg.Connection) -> None:

    await pools.setup_connection(conn)


def test_run_on_an_unmigrated_database_exits_at_once_with_the_hint(
    empty_database_url: str,
) -> None:
    result = subprocess.run(
        [str(BIN), "run", "--handler", "tests.queue.handlers:noop"],
        env=worker_env(empty_database_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "never migrated" in result.stderr and "backtest-worker migrate" in result.stderr
    assert "Traceback" not in result.stderr


async def test_readyz_says_not_ready_while_shutting_down(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    [run_id] = await insert_runs(conn, 1, config={"sleep": 3})
    port = free_port()
    worker = WorkerProcess(database_url, tmp_path, metrics_port=port, shutdown_grace_seconds=30)
    await wait_for(conn, "SELECT status = 'running' FROM runs WHERE id = $1", run_id)
    assert (await wait_http(port, "/readyz")).status_code == 200
    worker.signal(signal.SIGTERM)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 30
    while (ready := await get(port, "/readyz")).status_code == 200:
        assert loop.time() < give_up
        await asyncio.sleep(0.05)
    assert ready.status_code == 503 and ready.json()["stopping"] is True
    assert (await get(port, "/healthz")).status_code == 200  # alive while it drains
    assert await conn.fetchval("SELECT state FROM workers") in ("running", "stopping")
    assert await worker.wait() == 0
    assert await conn.fetchval("SELECT status::text FROM runs WHERE id = $1", run_id) == "succeeded"


async def test_a_taken_metrics_port_is_logged_and_the_worker_serves(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    await insert_runs(conn, 2)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        worker = WorkerProcess(
            database_url, tmp_path, "--burst", metrics_port=port, metrics_host="127.0.0.1"
        )
        assert await worker.wait() == 0, worker.log_text()[-2000:]
    assert worker.events("probe_server_failed")
    assert await conn.fetchval("SELECT count(*) FROM runs WHERE status = 'succeeded'") == 2
