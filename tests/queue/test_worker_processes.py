"""Real `backtest-worker run` processes against a real PostgreSQL.

No test asserts on elapsed time: waits are bounded only so that a broken worker fails the
test instead of hanging it. Performance figures live in bench/queue_throughput.py.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import asyncpg

from tests.queue.helpers import WorkerProcess, event_types, insert_runs, run_row, wait_for

LISTEN_BACKENDS = (
    "SELECT array_agg(pid ORDER BY pid) FROM pg_stat_activity "
    "WHERE application_name LIKE 'backtest-worker/listen/%' AND datname = current_database()"
)


def error_of(row: asyncpg.Record) -> dict[str, object]:
    value = row["error"]
    return json.loads(value) if isinstance(value, str) else value


async def test_several_workers_drain_the_queue_each_run_succeeds_once(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    ids = await insert_runs(conn, 300)
    workers = [
        WorkerProcess(database_url, tmp_path, "--burst", "--concurrency", "4") for _ in range(3)
    ]
    codes = [await worker.wait(within=120) for worker in workers]
    assert codes == [0, 0, 0], [w.log_text()[-2000:] for w in workers]
    rows = await conn.fetch("SELECT status, attempts, count(*) AS n FROM runs GROUP BY 1, 2")
    assert [(r["status"], r["attempts"], r["n"]) for r in rows] == [("succeeded", 1, 300)]
    completed = await conn.fetch(
        "SELECT run_id, count(*) AS n FROM events WHERE event_type = 'completed' GROUP BY 1"
    )
    assert {r["run_id"] for r in completed} == set(ids)
    assert {r["n"] for r in completed} == {1}
    # Each process logged its own successes; together they are every run, once.
    succeeded = [line["run_id"] for w in workers for line in w.events("run_succeeded")]
    assert sorted(succeeded) == sorted(str(i) for i in ids)
    assert all(line.get("worker_id") for w in workers for line in w.events("run_succeeded"))


async def test_a_killed_workers_runs_are_executed_again_after_the_lease(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    ids = await insert_runs(conn, 2, config={"sleep": 120})
    doomed = WorkerProcess(
        database_url,
        tmp_path,
        "--concurrency",
        "2",
        handler="tests.queue.handlers:sleep_uncooperative",
        lease_seconds=2,
    )
    try:
        await wait_for(conn, "SELECT count(*) = 2 FROM runs WHERE status = 'running'")
        doomed_id = await conn.fetchval("SELECT DISTINCT locked_by FROM runs")
        doomed.proc.kill()  # SIGKILL: no hand-back, no goodbye
        await doomed.wait()
        rescuer = WorkerProcess(
            database_url, tmp_path, "--burst", handler="tests.queue.handlers:noop"
        )
        assert await rescuer.wait(within=120) == 0, rescuer.log_text()[-2000:]
    finally:
        doomed.kill()
    for run_id in ids:
        row = await run_row(conn, run_id)
        assert (row["status"], row["attempts"]) == ("succeeded", 2)
        meta = json.loads(row["metadata"])
        assert meta["worker_id"] != doomed_id
        assert await event_types(conn, run_id) == [
            "claimed",
            "lease_expired",
            "claimed",
            "completed",
        ]


async def test_listener_reconnects_after_pg_terminate_backend(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    # A safety poll of an hour: only a notification can wake this worker.
    worker = WorkerProcess(database_url, tmp_path, poll_interval_seconds=3600, lease_seconds=30)
    try:
        [first] = await wait_for(conn, LISTEN_BACKENDS)
        [run_before] = await insert_runs(conn, 1)
        await wait_for(conn, "SELECT status = 'succeeded' FROM runs WHERE id = $1", run_before)

        assert await conn.fetchval("SELECT pg_terminate_backend($1)", first)
        [second] = await wait_for(
            conn,
            "SELECT array_agg(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE 'backtest-worker/listen/%' AND pid <> $1"
            " AND datname = current_database()",
            first,
        )
        assert second != first
        await wait_for(conn, "SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $1", second)
        # LISTEN is issued right after connecting; the worker logs when it is listening again.
        for _ in range(200):
            if worker.events("listener_reconnected"):
                break
            await asyncio.sleep(0.05)
        assert worker.events("listener_reconnected"), worker.log_text()[-2000:]

        [run_after] = await insert_runs(conn, 1)
        await wait_for(conn, "SELECT status = 'succeeded' FROM runs WHERE id = $1", run_after)
        worker.signal(signal.SIGTERM)
        assert await worker.wait() == 0
    finally:
        worker.kill()
    assert worker.events("listener_connection_lost")


async def test_sigterm_hands_back_unfinished_runs_without_counting_the_attempt(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    cooperative = await insert_runs(conn, 1, config={"sleep": 120}, priority=1)
    stubborn = await insert_runs(conn, 1, config={"uncooperative": True, "sleep": 120})
    worker = WorkerProcess(database_url, tmp_path, "--concurrency", "2", shutdown_grace_seconds=0.5)
    try:
        await wait_for(conn, "SELECT count(*) = 2 FROM runs WHERE status = 'running'")
        worker.signal(signal.SIGTERM)
        assert await worker.wait() == 0, worker.log_text()[-2000:]
    finally:
        worker.kill()
    for run_id in cooperative + stubborn:
        row = await run_row(conn, run_id)
        assert (row["status"], row["attempts"], row["locked_by"]) == ("pending", 0, None)
        assert await event_types(conn, run_id) == ["claimed", "handed_back"]
    assert len(worker.events("run_handed_back")) == 2
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'backtest-worker/%'"
            " AND datname = current_database()"
        )
        == 0
    )


async def test_cancelling_pending_and_running_runs(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    [pending] = await insert_runs(conn, 1, priority=-1)
    await conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", pending)
    [cooperative] = await insert_runs(conn, 1, config={"sleep": 120})
    [stubborn] = await insert_runs(conn, 1, config={"uncooperative": True, "sleep": 120})
    worker = WorkerProcess(database_url, tmp_path, "--concurrency", "2")
    try:
        await wait_for(conn, "SELECT count(*) = 2 FROM runs WHERE status = 'running'")
        await conn.execute(
            "UPDATE runs SET cancel_requested = true WHERE id = ANY($1::uuid[])",
            [cooperative, stubborn],
        )
        await wait_for(conn, "SELECT count(*) = 3 FROM runs WHERE status = 'cancelled'")
        [after] = await insert_runs(conn, 1)
        await wait_for(conn, "SELECT status = 'succeeded' FROM runs WHERE id = $1", after)
        worker.signal(signal.SIGTERM)
        assert await worker.wait() == 0
    finally:
        worker.kill()
    assert await event_types(conn, pending) == []  # never claimed, never executed
    for run_id in (cooperative, stubborn):
        assert await event_types(conn, run_id) == ["claimed", "cancelled"]
        row = await run_row(conn, run_id)
        assert row["finished_at"] is not None and row["locked_by"] is None


async def test_failing_well(conn: asyncpg.Connection, database_url: str, tmp_path: Path) -> None:
    """Permanent errors fail at once, transient ones retry until max_attempts, and the
    worker goes on with the next run."""
    [permanent] = await insert_runs(conn, 1, config={"fail": "permanent"}, priority=9)
    [paper] = await insert_runs(conn, 1, mode="paper", priority=8)
    [live] = await insert_runs(conn, 1, mode="live", priority=8)
    [exhausted] = await insert_runs(conn, 1, config={"fail": "transient"}, max_attempts=3)
    [reset] = await insert_runs(conn, 1, config={"fail": "connection"}, max_attempts=2)
    [flaky] = await insert_runs(conn, 1, config={"fail": "transient_once"})
    [bug] = await insert_runs(conn, 1, config={"fail": "bug"})
    [huge] = await insert_runs(conn, 1, config={"huge": True})
    [nan] = await insert_runs(conn, 1, config={"nan": True})
    [attached] = await insert_runs(conn, 1, config={"attachments": True})
    [good] = await insert_runs(conn, 1, priority=-9)
    worker = WorkerProcess(database_url, tmp_path, "--concurrency", "1")
    try:
        await wait_for(
            conn, "SELECT bool_and(status <> 'pending' AND status <> 'running') FROM runs"
        )
        worker.signal(signal.SIGTERM)
        assert await worker.wait() == 0, worker.log_text()[-3000:]
    finally:
        worker.kill()

    async def outcome(run_id: object) -> tuple[str, int, str | None]:
        row = await run_row(conn, run_id)
        error = error_of(row) if row["error"] else None
        return row["status"], row["attempts"], error["type"] if error else None

    assert await outcome(permanent) == ("failed", 1, "invalid_parameters")
    assert await outcome(paper) == ("failed", 1, "unsupported_mode")
    assert await outcome(live) == ("failed", 1, "unsupported_mode")
    assert await outcome(exhausted) == ("failed", 3, "attempts_exhausted")
    assert await outcome(reset) == ("failed", 2, "attempts_exhausted")
    assert await outcome(flaky) == ("succeeded", 2, None)
    assert await outcome(bug) == ("failed", 1, "internal_error")
    assert await outcome(huge) == ("failed", 1, "value_out_of_range")
    assert await outcome(nan) == ("succeeded", 1, None)
    assert await outcome(attached) == ("succeeded", 1, None)
    assert await outcome(good) == ("succeeded", 1, None)

    permanent_error = error_of(await run_row(conn, permanent))
    assert permanent_error["detail"] == {"fast": 50, "slow": 20}
    assert "'fast' must be smaller" in str(permanent_error["message"])
    assert "'paper' is not executed" in str(error_of(await run_row(conn, paper))["message"])
    exhausted_error = error_of(await run_row(conn, exhausted))
    assert "attempts exhausted" in str(exhausted_error["message"])
    assert "attempt 3 of 3" in str(exhausted_error["message"])
    assert await event_types(conn, exhausted) == [
        "claimed", "error", "retried",
        "claimed", "error", "retried",
        "claimed", "error", "failed",
    ]  # fmt: skip
    assert await event_types(conn, permanent) == ["claimed", "error", "failed"]
    assert "attached" in await event_types(conn, attached)
    assert await conn.fetchval("SELECT count(*) FROM artifacts WHERE run_id = $1", attached) == 1
    # A finished run's progress says it finished.
    finished = json.loads((await run_row(conn, good))["progress"])
    assert (finished["stage"], finished["pct"]) == ("succeeded", 100)
    assert json.loads((await run_row(conn, permanent))["progress"])["stage"] == "failed"
    nan_row = await run_row(conn, nan)
    assert nan_row["sharpe_ratio"] is None
    assert json.loads(nan_row["metrics"])["profit_factor"] is None
    # Every line about a run names the run, its attempt and the worker.
    for line in worker.lines():
        if "run_id" in line:
            assert line.get("attempt") and line.get("worker_id"), line
    assert "password" not in worker.log_text()


async def test_timeout_fails_the_run_and_the_worker_goes_on(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    [cooperative] = await insert_runs(
        conn, 1, config={"sleep": 120, "timeout_seconds": 0.5}, priority=2
    )
    [stubborn] = await insert_runs(
        conn, 1, config={"uncooperative": True, "sleep": 120, "timeout_seconds": 0.5}, priority=1
    )
    [after] = await insert_runs(conn, 1)
    worker = WorkerProcess(database_url, tmp_path, "--burst", "--concurrency", "1")
    assert await worker.wait(within=120) == 0, worker.log_text()[-3000:]
    for run_id in (cooperative, stubborn):
        row = await run_row(conn, run_id)
        assert (row["status"], row["attempts"]) == ("failed", 1)
        error = error_of(row)
        assert error["type"] == "timeout"
        assert "time limit of 0.5 s" in str(error["message"])
    assert (await run_row(conn, after))["status"] == "succeeded"


async def test_heartbeats_keep_a_cpu_bound_run_alive(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    """A pure-Python CPU loop for several leases: the heartbeat must keep beating (a second
    worker would reap the run otherwise) and progress keeps being reported. Leases of 2 s
    (a beat every 0.67 s): with 1 s, one beat late by 0.7 s on a loaded CI machine let the
    second worker reap the run."""
    [busy] = await insert_runs(conn, 1, config={"cpu": 6})
    [slow] = await insert_runs(conn, 1, config={"sleep": 2})
    notified: list[dict[str, object]] = []
    await conn.add_listener("run_progress", lambda *args: notified.append(json.loads(args[3])))
    settings = {"lease_seconds": 2, "poll_interval_seconds": 0.2}
    first = WorkerProcess(database_url, tmp_path, "--burst", "--concurrency", "2", **settings)
    await wait_for(conn, "SELECT count(*) = 2 FROM runs WHERE status = 'running'")
    second = WorkerProcess(database_url, tmp_path, "--burst", **settings)
    assert await first.wait(within=120) == 0, first.log_text()[-3000:]
    assert await second.wait(within=120) == 0, second.log_text()[-3000:]
    for run_id in (busy, slow):
        row = await run_row(conn, run_id)
        assert (row["status"], row["attempts"]) == ("succeeded", 1)
        assert "lease_expired" not in await event_types(conn, run_id)
    assert any(p["run_id"] == str(slow) and p["stage"] == "sleeping" for p in notified)
    progress = json.loads(await conn.fetchval("SELECT progress FROM runs WHERE id = $1", slow))
    assert progress == {"run_id": str(slow), "stage": "succeeded", "pct": 100}


async def test_burst_waits_for_a_retry_but_not_for_a_run_scheduled_later(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    """A burst worker drains the batch, retries included; a run due tomorrow is not its job."""
    [flaky] = await insert_runs(conn, 1, config={"fail": "transient_once"})
    [later] = await insert_runs(conn, 1)
    await conn.execute("UPDATE runs SET run_after = now() + interval '1 day' WHERE id = $1", later)
    worker = WorkerProcess(
        database_url, tmp_path, "--burst", retry_base_seconds=0.5, retry_max_seconds=1
    )
    try:
        assert await worker.wait() == 0, worker.log_text()[-3000:]
    finally:
        worker.kill()
    flaky_row = await run_row(conn, flaky)
    assert (flaky_row["status"], flaky_row["attempts"]) == ("succeeded", 2)
    assert (await run_row(conn, later))["status"] == "pending"
