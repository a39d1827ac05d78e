"""Files still being stored when the handler returns: the final transaction waits for them.

The completer is the real one over a real PostgreSQL; the pending files are real files,
written by a thread pool as the side threads write them. The last test runs a real worker
process with the production handler on a curve long enough for its files to go aside.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest
import structlog

from tests.e2e.test_backtest_runs import add_dataset, add_strategy, drain
from tests.queue import handlers
from tests.queue.helpers import event_types, insert_runs, run_row
from worker.db import pools
from worker.queue import queries
from worker.queue.completer import Completer
from worker.queue.handler import ArtifactRecord, PermanentRunError, RunJob
from worker.queue.outcome import RetryPolicy, Succeed, succeed
from worker.results.artifacts import ASIDE_ROWS, DEFAULT_ARTIFACTS, DEFER_ROWS
from worker.storage import FileStore

A = "host-a:1:pending"
NO_JITTER = RetryPolicy(base_seconds=0.05, max_seconds=0.2)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await pools.create_pool(database_url, size=4, application_name="test-pending")
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def threads() -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="test-artifacts")
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


async def _claim(pool: asyncpg.Pool, max_attempts: int = 3) -> RunJob:
    async with pool.acquire() as db:
        await insert_runs(db, 1, max_attempts=max_attempts)
        (job,) = await queries.claim(db, A, 1, 60)
    return job


def _file(
    threads: ThreadPoolExecutor,
    store: FileStore,
    job: RunJob,
    name: str,
    *,
    before: Callable[[], None] = lambda: None,
) -> Future[ArtifactRecord]:
    """A file stored on a side thread, after `before` (a delay, or an error it raises)."""

    def write() -> ArtifactRecord:
        before()
        data = f"{name} of {job.id}".encode()
        stored = store.put(f"{job.id}/attempt-{job.attempt}/{name}", data)
        return ArtifactRecord(
            "json", name, stored.uri, "application/json", stored.size_bytes, stored.sha256
        )

    return threads.submit(write)


def _success(job: RunJob, *pending: Future[ArtifactRecord]) -> Succeed:
    events = f"{job.id},trade_exit,2020-01-02T00:00:00+00:00,{{}}\n".encode()
    outcome = succeed(handlers.outcome(job))
    return Succeed(outcome.row, (), events, None, pending)


def _completer(pool: asyncpg.Pool, lease: float = 5.0) -> Completer:
    completer = Completer(
        pool, A, retry_for_seconds=lease, log=structlog.get_logger(), policy=NO_JITTER
    )
    completer.start()
    return completer


async def _artifacts(conn: asyncpg.Connection, run_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT filename, storage_path, sha256 FROM artifacts WHERE run_id = $1 ORDER BY id",
        run_id,
    )


async def test_pending_files_are_recorded_after_the_status_and_events(
    pool: asyncpg.Pool, conn: asyncpg.Connection, threads: ThreadPoolExecutor, tmp_path: Path
) -> None:
    store = FileStore(str(tmp_path))
    job = await _claim(pool)
    files = [_file(threads, store, job, name) for name in ("a.json", "b.json", "c.json")]
    completer = _completer(pool)
    assert await completer.write(job, _success(job, *files)) is True
    await completer.stop()
    row = await run_row(conn, job.id)
    assert row["status"] == "succeeded", row["error"]
    rows = await _artifacts(conn, job.id)
    assert sorted(r["filename"] for r in rows) == ["a.json", "b.json", "c.json"]
    for r in rows:
        assert hashlib.sha256(Path(r["storage_path"]).read_bytes()).hexdigest() == r["sha256"]
    assert json.loads(row["metadata"])["timings"]["store_wait"] >= 0
    assert (await event_types(conn, job.id))[-2:] == ["completed", "trade_exit"]


@pytest.mark.parametrize(
    ("error", "status", "error_type"),
    [
        (OSError("the disk went away"), "pending", "transient_error"),
        (PermanentRunError("bad_file", "the file cannot be written"), "failed", "bad_file"),
    ],
    ids=["transient", "permanent"],
)
async def test_a_failed_file_ends_the_run_as_a_handler_error_would(
    pool: asyncpg.Pool,
    conn: asyncpg.Connection,
    threads: ThreadPoolExecutor,
    tmp_path: Path,
    error: Exception,
    status: str,
    error_type: str,
) -> None:
    store = FileStore(str(tmp_path))
    job = await _claim(pool)
    other = await _claim(pool)  # in the same batch: written although its neighbour failed

    def fail() -> None:
        raise error

    files = [_file(threads, store, job, "a.json"), _file(threads, store, job, "b", before=fail)]
    completer = _completer(pool)
    written = [
        completer.write(job, _success(job, *files)),
        completer.write(other, _success(other, _file(threads, store, other, "a.json"))),
    ]
    assert [await w for w in written] == [True, True]
    await completer.stop()
    row = await run_row(conn, job.id)
    assert row["status"] == status
    assert json.loads(row["error"])["type"] == error_type
    assert str(error) in json.loads(row["error"])["message"]
    # Rolled back whole: no artifact row (the stored file is referenced by nothing), no event.
    assert await _artifacts(conn, job.id) == []
    assert "trade_exit" not in await event_types(conn, job.id)
    assert "completed" not in await event_types(conn, job.id)
    assert (await run_row(conn, other.id))["status"] == "succeeded"
    assert [r["filename"] for r in await _artifacts(conn, other.id)] == ["a.json"]


@pytest.mark.parametrize(
    ("lease", "shutdown_in", "message"),
    [
        (0.5, None, "not stored within 0.5 s"),
        (60.0, 0.5, "before the worker's shutdown deadline"),
    ],
    ids=["lease", "shutdown"],
)
async def test_the_wait_for_a_stuck_file_is_bounded(
    pool: asyncpg.Pool,
    conn: asyncpg.Connection,
    threads: ThreadPoolExecutor,
    tmp_path: Path,
    lease: float,
    shutdown_in: float | None,
    message: str,
) -> None:
    """By one lease, or sooner by a stopping worker's deadline: the run is retried."""
    store = FileStore(str(tmp_path))
    job = await _claim(pool)
    release = threading.Event()
    file = _file(threads, store, job, "stuck.json", before=lambda: release.wait(30) and None)
    completer = _completer(pool, lease=lease)
    if shutdown_in is not None:
        completer.retry_until(shutdown_in)
    try:
        started = time.monotonic()
        assert await completer.write(job, _success(job, file)) is True
        waited = time.monotonic() - started
    finally:
        release.set()
    await completer.stop()
    row = await run_row(conn, job.id)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert message in json.loads(row["error"])["message"]
    assert waited < 10  # the bound and the retry's write, far less than the file's 30 s
    assert await _artifacts(conn, job.id) == []


async def test_a_slow_file_is_waited_for_and_the_wait_recorded(
    pool: asyncpg.Pool, conn: asyncpg.Connection, threads: ThreadPoolExecutor, tmp_path: Path
) -> None:
    store = FileStore(str(tmp_path))
    job = await _claim(pool)
    file = _file(threads, store, job, "slow.json", before=lambda: time.sleep(1.0))
    completer = _completer(pool)
    started = time.perf_counter()
    assert await completer.write(job, _success(job, file)) is True
    elapsed = time.perf_counter() - started
    await completer.stop()
    row = await run_row(conn, job.id)
    assert row["status"] == "succeeded"
    assert [r["filename"] for r in await _artifacts(conn, job.id)] == ["slow.json"]
    store_wait = json.loads(row["metadata"])["timings"]["store_wait"]
    # The transaction waited for what was left of the second, no longer than the whole write.
    assert 0.5 < store_wait <= elapsed


# The first artifact rows are refused with a serialization failure: after the files were
# waited for, so the retried transaction must find them stored, not render them again.
REFUSE_FIRST_ARTIFACTS = """
CREATE SEQUENCE refusals;
CREATE FUNCTION refuse_first_artifacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('refusals') <= 1 THEN
        RAISE EXCEPTION 'injected: could not serialize access' USING ERRCODE = '40001';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER refuse_first_artifacts BEFORE INSERT ON artifacts
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_first_artifacts();
"""


@pytest.mark.parametrize("n_bars", [ASIDE_ROWS, DEFER_ROWS], ids=["aside", "deferred"])
async def test_a_transient_error_at_the_final_write_stores_the_files_once(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path, n_bars: int
) -> None:
    """GIL-free files on the side threads (a long curve), or every file on one (shorter)."""
    dataset = await add_dataset(
        conn, tmp_path / "data", seed=3, symbols=("AAA",), n_bars=n_bars, timeframe="1m"
    )
    strategy = await add_strategy(
        conn, {"kind": "sma_crossover", "fast_period": 50, "slow_period": 200}
    )
    run_id = await conn.fetchval(
        "INSERT INTO runs (dataset_id, strategy_id, initial_capital) VALUES ($1, $2, 10000)"
        " RETURNING id",
        dataset,
        strategy,
    )
    await conn.execute(REFUSE_FIRST_ARTIFACTS)
    worker = await drain(database_url, tmp_path)
    assert await conn.fetchval("SELECT last_value FROM refusals") == 2
    assert worker.events("completion_write_retry")
    row = await run_row(conn, run_id)
    assert (row["status"], row["attempts"]) == ("succeeded", 1)
    types = await event_types(conn, run_id)
    assert types.count("simulation_started") == 1 and types.count("completed") == 1
    assert "trade_exit" in types and "metrics" in types
    rows = await _artifacts(conn, run_id)
    assert len(rows) == len(DEFAULT_ARTIFACTS - {"leaderboard_csv"})  # not a grid
    # Stored once, under the one attempt's prefix, and each row is what the file holds.
    stored = sorted(p for p in (tmp_path / "artifacts").rglob("*") if p.is_file())
    assert stored == sorted(Path(r["storage_path"]) for r in rows)
    assert {p.parent.name for p in stored} == {"attempt-1"}
    for r in rows:
        assert hashlib.sha256(Path(r["storage_path"]).read_bytes()).hexdigest() == r["sha256"]
    assert json.loads(row["metadata"])["timings"]["store_wait"] >= 0
