"""The queue's statements against a real database: claim, fence, heartbeat, reap, hand-back."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from tests.queue import handlers
from tests.queue.helpers import event_types, insert_runs, run_row
from worker.db import pools
from worker.queue import queries
from worker.queue.handler import PermanentRunError, RunJob, RunOutcome
from worker.queue.outcome import SuccessRow, succeed

A = "host-a:1:aaaaaa"
B = "host-b:2:bbbbbb"


@pytest.fixture
async def db(conn: asyncpg.Connection) -> asyncpg.Connection:
    await pools.setup_connection(conn)
    return conn


def done(job: RunJob, **extra: object) -> tuple[object, int, SuccessRow]:
    return (job.id, job.attempt, succeed(handlers.outcome(job, **extra)).row)


async def expire(conn: asyncpg.Connection, run_id: object) -> None:
    await conn.execute(
        "UPDATE runs SET lease_expires_at = now() - interval '1 second' WHERE id = $1", run_id
    )


async def test_claim_takes_priority_then_age_and_counts_the_attempt(db: asyncpg.Connection) -> None:
    low = await insert_runs(db, 2)
    high = await insert_runs(db, 1, priority=5)
    later = await db.fetchval(
        "UPDATE runs SET run_after = now() + interval '1 hour' WHERE id = $1 RETURNING id", low[1]
    )
    jobs = await queries.claim(db, A, 10, 30)
    assert [job.id for job in jobs] == [high[0], low[0]]
    assert later not in {job.id for job in jobs}
    row = await run_row(db, high[0])
    assert row["status"] == "running"
    assert row["locked_by"] == A
    assert row["attempts"] == 1
    lease = await db.fetchval(
        "SELECT lease_expires_at - started_at FROM runs WHERE id = $1", high[0]
    )
    assert lease.total_seconds() == 30
    assert await event_types(db, high[0]) == ["claimed"]
    assert await queries.claim(db, B, 10, 30) == []


async def test_claim_respects_the_limit_and_skips_cancel_requested(
    db: asyncpg.Connection,
) -> None:
    ids = await insert_runs(db, 5)
    # A pending run with cancel_requested is cancelled by the trigger at once.
    await db.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", ids[0])
    assert (await run_row(db, ids[0]))["status"] == "cancelled"
    first = await queries.claim(db, A, 2, 30)
    second = await queries.claim(db, B, 10, 30)
    assert len(first) == 2
    assert len(second) == 2
    assert not {j.id for j in first} & {j.id for j in second}
    assert ids[0] not in {j.id for j in first + second}


async def test_a_worker_that_lost_its_lease_cannot_write(db: asyncpg.Connection) -> None:
    [run_id] = await insert_runs(db, 1)
    [job_a] = await queries.claim(db, A, 1, 30)
    await expire(db, run_id)
    [reaped] = await queries.reap(db)
    assert (reaped.id, reaped.status, reaped.lost_by) == (run_id, "pending", A)
    [job_b] = await queries.claim(db, B, 1, 30)
    assert job_b.attempt == 2

    # The first worker wakes up and tries every final write: all are fenced off.
    assert await queries.complete(db, A, [done(job_a)]) == set()
    assert await queries.fail(db, A, [(run_id, 1, {"type": "x", "message": "y"})]) == set()
    assert await queries.retry(db, A, [(run_id, 1, {"type": "x", "message": "y"}, 1.0)]) == set()
    assert await queries.cancel(db, A, [(run_id, 1)]) == set()
    assert await queries.hand_back(db, A, [(run_id, 1)]) == set()
    assert await queries.heartbeat(db, A, [(run_id, 1)], 30) == {}
    # Even the same worker id with the old attempt number is fenced off.
    assert await queries.complete(db, B, [done(job_a)]) == set()

    assert await queries.complete(db, B, [done(job_b)]) == {run_id}
    row = await run_row(db, run_id)
    assert row["status"] == "succeeded"
    assert row["final_value"] == Decimal("11000.0000")
    assert row["locked_by"] is None
    # A finished run stays finished: a second success is impossible.
    assert await queries.complete(db, B, [done(job_b)]) == set()
    types = await event_types(db, run_id)
    assert types.count("completed") == 1
    assert types == ["claimed", "lease_expired", "claimed", "completed"]


async def test_batch_completion_is_fenced_per_row(db: asyncpg.Connection) -> None:
    ids = await insert_runs(db, 3)
    jobs = await queries.claim(db, A, 3, 30)
    await expire(db, jobs[1].id)
    await queries.reap(db)
    written = await queries.complete(db, A, [done(job) for job in jobs])
    assert written == {jobs[0].id, jobs[2].id}
    statuses = {r["id"]: r["status"] for r in await db.fetch("SELECT id, status FROM runs")}
    assert statuses[jobs[1].id] == "pending"
    assert sorted(statuses.values()) == ["pending", "succeeded", "succeeded"]
    assert set(ids) == set(statuses)


async def test_batch_writes_take_each_runs_own_values(db: asyncpg.Connection) -> None:
    """The statements take a run's values by its position in the arrays (lock_held_runs'
    `n`), while rows are locked in id order: a batch given in another order, with a run
    fenced off in the middle, still writes every run's own values."""
    await insert_runs(db, 8)
    jobs = sorted(await queries.claim(db, A, 8, 30), key=lambda job: job.id, reverse=True)
    succeeding, failing, retrying = jobs[:3], jobs[3:5], jobs[5:]
    await expire(db, succeeding[1].id)
    await queries.reap(db)
    items = [
        done(job, total_trades=10 + i, winning_trades=10 + i, losing_trades=0, tag=i)
        for i, job in enumerate(succeeding)
    ]
    assert await queries.complete(db, A, items) == {succeeding[0].id, succeeding[2].id}
    for i in (0, 2):
        row = await run_row(db, succeeding[i].id)
        assert (row["total_trades"], row["metrics"]["tag"]) == (10 + i, i)
    errors = [{"type": "invalid_params", "message": f"bad {i}"} for i in range(2)]
    failed = [(job.id, job.attempt, errors[i]) for i, job in enumerate(failing)]
    assert await queries.fail(db, A, failed) == {job.id for job in failing}
    for i, job in enumerate(failing):
        assert (await run_row(db, job.id))["error"] == errors[i]
    delays = [100.0 * (i + 1) for i in range(len(retrying))]
    retried = [(job.id, job.attempt, errors[0], delays[i]) for i, job in enumerate(retrying)]
    assert await queries.retry(db, A, retried) == {job.id for job in retrying}
    for i, job in enumerate(retrying):
        wait = await db.fetchval(
            "SELECT extract(epoch FROM run_after - now()) FROM runs WHERE id = $1", job.id
        )
        assert delays[i] - 5 < wait <= delays[i]


async def test_reaper_cancels_a_run_asked_to_stop_whose_worker_died(
    db: asyncpg.Connection, database_url: str
) -> None:
    """Handed back to pending, a run with cancel_requested is never claimed again (the claim
    skips the flag), so it would never end: the reaper ends it cancelled, and Node hears it."""
    [run_id] = await insert_runs(db, 1)
    await queries.claim(db, A, 1, 30)
    await db.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", run_id)
    listener = await asyncpg.connect(database_url)
    completed: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("run_completed", lambda *args: completed.put_nowait(args[3]))
    try:
        await expire(db, run_id)
        [reaped] = await queries.reap(db)
        assert (reaped.id, reaped.status, reaped.lost_by) == (run_id, "cancelled", A)
        payload = json.loads(await asyncio.wait_for(completed.get(), 5))
    finally:
        await listener.close()
    assert (payload["run_id"], payload["status"]) == (str(run_id), "cancelled")
    row = await run_row(db, run_id)
    assert row["status"] == "cancelled"
    assert row["locked_by"] is None and row["lease_expires_at"] is None
    assert row["finished_at"] is not None
    assert row["progress"]["stage"] == "cancelled"
    event = await db.fetchrow(
        "SELECT event_type, payload FROM events WHERE run_id = $1 AND event_type = 'cancelled'",
        run_id,
    )
    assert event["payload"] == {"attempt": 1, "worker_id": A, "reason": "lease_expired"}
    assert await event_types(db, run_id) == ["claimed", "cancelled"]
    assert await queries.reap(db) == []


@pytest.mark.parametrize("send_back", ["retry", "hand_back"])
async def test_a_run_asked_to_stop_and_sent_back_to_pending_is_cancelled(
    db: asyncpg.Connection, send_back: str
) -> None:
    """The table's rule (migration 0014), whoever writes it: a run becoming pending with
    cancel_requested set is cancelled in that statement, as when the request meets a pending
    run."""
    [run_id] = await insert_runs(db, 1)
    [job] = await queries.claim(db, A, 1, 30)
    await db.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", run_id)
    if send_back == "retry":
        error = {"type": "connection_lost", "message": "x"}
        assert await queries.retry(db, A, [(run_id, job.attempt, error, 0.0)]) == {run_id}
    else:
        assert await queries.hand_back(db, A, [(run_id, job.attempt)]) == {run_id}
    row = await run_row(db, run_id)
    assert row["status"] == "cancelled"
    assert row["finished_at"] is not None and row["lease_expires_at"] is None


async def test_reaper_fails_a_run_whose_attempts_are_exhausted(db: asyncpg.Connection) -> None:
    [run_id] = await insert_runs(db, 1, max_attempts=1)
    await queries.claim(db, A, 1, 30)
    await expire(db, run_id)
    [reaped] = await queries.reap(db)
    assert reaped.status == "failed"
    row = await run_row(db, run_id)
    assert row["status"] == "failed"
    assert row["error"]["type"] == "attempts_exhausted"
    assert "attempts exhausted" in row["error"]["message"]
    assert A in row["error"]["message"]
    assert row["finished_at"] is not None


async def test_heartbeat_extends_leases_and_reports_cancellation(db: asyncpg.Connection) -> None:
    ids = await insert_runs(db, 2)
    jobs = await queries.claim(db, A, 2, 5)
    await db.execute("UPDATE runs SET cancel_requested = true WHERE id = $1", ids[1])
    before = await db.fetchval("SELECT max(lease_expires_at) FROM runs")
    alive = await queries.heartbeat(db, A, [(j.id, j.attempt) for j in jobs], 60)
    assert alive == {ids[0]: False, ids[1]: True}
    after = await db.fetchval("SELECT min(lease_expires_at) FROM runs")
    assert after > before


async def test_hand_back_does_not_count_the_attempt(db: asyncpg.Connection) -> None:
    [run_id] = await insert_runs(db, 1)
    [job] = await queries.claim(db, A, 1, 30)
    assert await queries.hand_back(db, A, [(job.id, job.attempt)]) == {run_id}
    row = await run_row(db, run_id)
    assert (row["status"], row["attempts"], row["locked_by"]) == ("pending", 0, None)
    assert await event_types(db, run_id) == ["claimed", "handed_back"]


async def test_retry_delays_the_run_on_the_database_clock(db: asyncpg.Connection) -> None:
    [run_id] = await insert_runs(db, 1)
    [job] = await queries.claim(db, A, 1, 30)
    error = {"type": "transient_error", "message": "connection reset"}
    assert await queries.retry(db, A, [(run_id, job.attempt, error, 3600.0)]) == {run_id}
    row = await run_row(db, run_id)
    assert row["status"] == "pending"
    assert row["error"] == error
    assert await queries.claim(db, B, 1, 30) == []
    wait = await queries.next_run_after(db)
    assert wait is not None and 3500 < wait <= 3600
    assert await event_types(db, run_id) == ["claimed", "error", "retried"]


async def test_nan_and_infinity_never_reach_jsonb(db: asyncpg.Connection) -> None:
    [run_id] = await insert_runs(db, 1)
    [job] = await queries.claim(db, A, 1, 30)
    item = done(job, sharpe_ratio=float("nan"), profit_factor=float("inf"), note=[float("-inf")])
    assert await queries.complete(db, A, [item]) == {run_id}
    row = await run_row(db, run_id)
    assert row["sharpe_ratio"] is None
    assert row["metrics"]["profit_factor"] is None
    assert row["metrics"]["note"] == [None]
    error = {"type": "x", "message": "m", "detail": {"v": float("nan")}}
    [other] = await insert_runs(db, 1)
    [job2] = await queries.claim(db, A, 1, 30)
    assert await queries.fail(db, A, [(other, job2.attempt, error)]) == {other}
    assert (await run_row(db, other))["error"]["detail"] == {"v": None}


def test_values_too_large_for_their_column_are_a_permanent_error() -> None:
    job = RunJob(
        id=__import__("uuid").uuid4(),
        dataset_id=__import__("uuid").uuid4(),
        strategy_id=__import__("uuid").uuid4(),
        mode="backtest",
        initial_capital=Decimal(10000),
        config={},
        attempt=1,
        max_attempts=3,
        worker_id=A,
    )
    with pytest.raises(PermanentRunError) as caught:
        succeed(handlers.outcome(job, total_return=1e7))
    assert caught.value.type == "value_out_of_range"
    assert "NUMERIC(10,4)" in caught.value.message
    with pytest.raises(PermanentRunError) as missing:
        succeed(RunOutcome(metrics={"final_value": 1.0}))
    assert missing.value.type == "invalid_metrics"


async def test_progress_is_recorded_and_notified(db: asyncpg.Connection) -> None:
    [run_id] = await insert_runs(db, 1)
    [job] = await queries.claim(db, A, 1, 30)
    received: list[str] = []
    await db.add_listener("run_progress", lambda *args: received.append(args[3]))
    payload = {"run_id": str(run_id), "stage": "simulate", "pct": 40.0}
    await queries.write_progress(db, run_id, A, job.attempt, payload)
    await db.execute("SELECT 1")
    assert (await run_row(db, run_id))["progress"] == payload
    assert [json.loads(p) for p in received] == [payload]


async def test_claim_and_completion_leave_what_the_guard_would_have_set(
    db: asyncpg.Connection,
) -> None:
    # The guard trigger skips rows where it would change nothing (migration 0003): the
    # completion sets finished_at and clears the lease itself, exactly as the guard would.
    [run_id] = await insert_runs(db, 1)
    [job] = await queries.claim(db, A, 1, 30)
    row = await run_row(db, run_id)
    assert row["status"] == "running" and row["finished_at"] is None
    assert row["lease_expires_at"] is not None
    assert await queries.complete(db, A, [done(job)]) == {run_id}
    row = await run_row(db, run_id)
    assert row["status"] == "succeeded"
    assert row["finished_at"] is not None and row["lease_expires_at"] is None
    assert row["finished_at"] >= row["started_at"]
    # The guard still fires when it has something to refuse.
    with pytest.raises(asyncpg.CheckViolationError, match="a finished run cannot become"):
        await db.execute("UPDATE runs SET status = 'running' WHERE id = $1", run_id)


class _CountingExecutor(concurrent.futures.ThreadPoolExecutor):
    submitted = 0

    def submit(self, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        type(self).submitted += 1
        return super().submit(*args, **kwargs)


async def test_event_copy_stays_on_the_event_loop(db: asyncpg.Connection) -> None:
    """The final transaction's COPY sends its bytes itself: no hop through a thread pool
    (where it waits for the GIL behind the runs' threads, the transaction open)."""
    (run_id,) = await insert_runs(db)
    csv = (
        f'{run_id},trade_entry,2024-01-02T00:00:00+00:00,"{{""trade"": 1}}"\n'
        f'{run_id},trade_exit,2024-01-03T00:00:00+00:00,"{{""trade"": 1, ""pnl"": 2.5}}"\n'
    ).encode()
    executor = _CountingExecutor(max_workers=1)
    asyncio.get_running_loop().set_default_executor(executor)
    async with db.transaction():
        await queries.copy_events_csv(db, csv)
    assert _CountingExecutor.submitted == 0
    rows = await db.fetch(
        "SELECT event_type, payload FROM events WHERE run_id = $1 ORDER BY id", run_id
    )
    assert [(row["event_type"], row["payload"]) for row in rows] == [
        ("trade_entry", {"trade": 1}),
        ("trade_exit", {"trade": 1, "pnl": 2.5}),
    ]
