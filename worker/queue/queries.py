"""Typed wrappers around the statements in `sql/`: the queue's only database access."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from worker import jsonsafe
from worker.bounds import (
    MAX_INPUT_BYTES,
    MAX_INPUT_DEPTH,
    MAX_TRANSPORT_BYTES,
    InputTooLarge,
    loads_input,
)
from worker.queue.handler import (
    ArtifactRecord,
    ChildRun,
    ChunkRecord,
    PermanentRunError,
    RunJob,
)
from worker.queue.outcome import SuccessRow
from worker.queue.sql import load
from worker.schemas.event import COPY_COLUMNS

Executor = asyncpg.Connection | asyncpg.Pool | PoolConnectionProxy


async def claim(db: Executor, worker_id: str, limit: int, lease_seconds: float) -> list[RunJob]:
    """Claim runs; a run whose config cannot be decoded is returned with `input_error` set
    (its handler is never called: it fails through the completer like any bad input)."""
    rows = await db.fetch(load("claim"), worker_id, limit, lease_seconds, MAX_TRANSPORT_BYTES)
    jobs = []
    for row in rows:
        config, input_error = _decode_config(row["config"], row["config_bytes"])
        jobs.append(
            RunJob(
                id=row["id"],
                dataset_id=row["dataset_id"],
                strategy_id=row["strategy_id"],
                mode=row["mode"],
                initial_capital=row["initial_capital"],
                config=config,
                attempt=row["attempts"],
                max_attempts=row["max_attempts"],
                worker_id=worker_id,
                input_error=input_error,
                queue_wait_seconds=row["waited"],
            )
        )
    return jobs


def _decode_config(
    text: str | None, size: int | None
) -> tuple[dict[str, Any], PermanentRunError | None]:
    if text == "{}":  # the column's default: no need to decode and measure it
        return {}, None
    try:
        if text is None:
            if not size:
                return {}, None
            raise InputTooLarge(f"runs.config is {size} bytes of JSON, more than {MAX_INPUT_BYTES}")
        config = loads_input(text, "runs.config")
        if not isinstance(config, dict):
            raise InputTooLarge("runs.config must be a JSON object")
    except InputTooLarge as error:
        return {}, PermanentRunError(
            "invalid_config",
            f"the run's config cannot be accepted: {error}",
            {"max_bytes": MAX_INPUT_BYTES, "max_depth": MAX_INPUT_DEPTH},
        )
    return config, None


async def complete(
    db: Executor, worker_id: str, runs: Sequence[tuple[uuid.UUID, int, SuccessRow]]
) -> set[uuid.UUID]:
    """Mark runs succeeded, fenced per row; returns the ids actually written."""
    rows = [row for _, _, row in runs]
    written = await db.fetch(
        load("complete_batch"),
        worker_id,
        [run_id for run_id, _, _ in runs],
        [attempt for _, attempt, _ in runs],
        [row.final_value for row in rows],
        [row.total_return for row in rows],
        [row.sharpe_ratio for row in rows],
        [row.max_drawdown for row in rows],
        [row.win_rate for row in rows],
        [row.total_trades for row in rows],
        [row.winning_trades for row in rows],
        [row.losing_trades for row in rows],
        [row.metrics_json for row in rows],
        [row.metadata_json for row in rows],
    )
    return {record["id"] for record in written}


async def fail(
    db: Executor, worker_id: str, runs: Sequence[tuple[uuid.UUID, int, dict[str, Any]]]
) -> set[uuid.UUID]:
    """End runs `failed` with their errors, fenced per row; returns the ids written."""
    written = await db.fetch(
        load("fail_batch"),
        worker_id,
        [run_id for run_id, _, _ in runs],
        [attempt for _, attempt, _ in runs],
        [jsonsafe.dumps(error) for _, _, error in runs],
    )
    return {record["id"] for record in written}


async def retry(
    db: Executor,
    worker_id: str,
    runs: Sequence[tuple[uuid.UUID, int, dict[str, Any], float]],
) -> set[uuid.UUID]:
    """Back to pending after a delay (seconds), fenced per row; returns the ids written."""
    written = await db.fetch(
        load("retry_batch"),
        worker_id,
        [run_id for run_id, _, _, _ in runs],
        [attempt for _, attempt, _, _ in runs],
        [jsonsafe.dumps(error) for _, _, error, _ in runs],
        [delay for _, _, _, delay in runs],
    )
    return {record["id"] for record in written}


async def cancel(
    db: Executor, worker_id: str, runs: Sequence[tuple[uuid.UUID, int]]
) -> set[uuid.UUID]:
    written = await db.fetch(
        load("cancel_batch"), worker_id, [r for r, _ in runs], [a for _, a in runs]
    )
    return {record["id"] for record in written}


async def final_states(db: Executor, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[str, int]]:
    """{run id: (status, attempts)} as the database has them now."""
    rows = await db.fetch(load("final_states"), list(ids))
    return {row["id"]: (row["status"], row["attempts"]) for row in rows}


async def insert_artifacts(
    db: Executor, artifacts: Sequence[tuple[uuid.UUID, ArtifactRecord]]
) -> None:
    await db.execute(
        load("insert_artifacts"),
        [run_id for run_id, _ in artifacts],
        [a.kind for _, a in artifacts],
        [a.filename for _, a in artifacts],
        [a.storage_path for _, a in artifacts],
        [a.mime_type for _, a in artifacts],
        [a.size_bytes for _, a in artifacts],
        [a.sha256 for _, a in artifacts],
    )


async def record_store_wait(db: Executor, waits: Sequence[tuple[uuid.UUID, float]]) -> None:
    """`timings.store_wait` of successes whose transaction waited for their pending files."""
    await db.execute(load("store_wait"), [r for r, _ in waits], [s for _, s in waits])


async def insert_chunks(db: Executor, chunks: Sequence[tuple[uuid.UUID, ChunkRecord]]) -> None:
    """Sweep children's evaluations, in their success's transaction (after its fence held)."""
    await db.execute(
        load("insert_chunks"),
        [run_id for run_id, _ in chunks],
        [c.index for _, c in chunks],
        [c.combinations for _, c in chunks],
        [c.partitions for _, c in chunks],
        [c.rows for _, c in chunks],
        [c.counts for _, c in chunks],
        [c.powers for _, c in chunks],
    )


async def copy_events_csv(
    connection: asyncpg.Connection | PoolConnectionProxy, data: bytes
) -> None:
    """Append events given as CSV rows (run_id, event_type, timestamp, payload), one COPY.

    The source is an async iterator of the one buffer: asyncpg reads a file-like source
    in the default executor, two thread hops (the read, the empty read at its end) inside
    the run's final transaction, each waiting for the GIL behind the runs' threads (and
    `bytes` it takes for a path)."""
    if data:
        await connection.copy_to_table(
            "events", source=_once(data), columns=list(COPY_COLUMNS), format="csv"
        )


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def hand_back(
    db: Executor, worker_id: str, held: Sequence[tuple[uuid.UUID, int]]
) -> set[uuid.UUID]:
    rows = await db.fetch(
        load("hand_back"), worker_id, [run_id for run_id, _ in held], [a for _, a in held]
    )
    return {row["id"] for row in rows}


async def fan_out(
    db: Executor,
    worker_id: str,
    parents: Sequence[tuple[uuid.UUID, int, Sequence[ChildRun]]],
) -> set[uuid.UUID]:
    """Insert each parent's children and park it `waiting` (or end it `cancelled` when a
    cancel came meanwhile), fenced per parent; returns the parent ids written."""
    children = [(run_id, child) for run_id, _, kids in parents for child in kids]
    rows = await db.fetch(
        load("fan_out"),
        worker_id,
        [run_id for run_id, _, _ in parents],
        [attempt for _, attempt, _ in parents],
        [run_id for run_id, _ in children],
        [child.index for _, child in children],
        [child.combinations for _, child in children],
        [child.config_json for _, child in children],
    )
    return {row["id"] for row in rows}


@dataclass(frozen=True)
class WorkerBeat:
    """What a worker's `workers` row says of it, written with every heartbeat."""

    hostname: str
    pid: int
    version: str
    concurrency: int
    state: str = "running"


async def heartbeat(
    db: Executor,
    worker_id: str,
    held: Sequence[tuple[uuid.UUID, int]],
    lease_seconds: float,
    beat: WorkerBeat | None = None,
) -> dict[uuid.UUID, bool]:
    """Extend leases (and, given `beat`, upsert the worker's row in the same statement);
    returns {run id: cancel_requested} for the runs still held."""
    rows = await db.fetch(
        load("heartbeat"),
        worker_id,
        [run_id for run_id, _ in held],
        [attempt for _, attempt in held],
        lease_seconds,
        *(
            (None, None, None, None, None)
            if beat is None
            else (beat.hostname, beat.pid, beat.version, beat.concurrency, beat.state)
        ),
    )
    return {row["id"]: row["cancel_requested"] for row in rows}


@dataclass(frozen=True)
class Reaped:
    id: uuid.UUID
    status: str
    attempts: int
    max_attempts: int
    lost_by: str | None


async def reap(db: Executor) -> list[Reaped]:
    rows = await db.fetch(load("reap"))
    return [Reaped(**dict(row)) for row in rows]


async def write_progress(
    db: Executor, run_id: uuid.UUID, worker_id: str, attempt: int, payload: dict[str, Any]
) -> None:
    await db.execute(load("progress"), run_id, worker_id, attempt, payload)


async def next_run_after(db: Executor) -> float | None:
    """Seconds until the next delayed pending run is due, or None."""
    wait: timedelta | None = await db.fetchval(load("next_run_after"))
    return None if wait is None else max(wait.total_seconds(), 0.0)


async def burst_idle(db: Executor, horizon_seconds: float) -> bool:
    return bool(await db.fetchval(load("burst_idle"), horizon_seconds))


@dataclass(frozen=True)
class StatusCount:
    status: str
    runs: int
    runnable: int
    oldest_pending_age: timedelta | None


@dataclass(frozen=True)
class LeaseHolder:
    worker_id: str
    runs: int
    oldest_started_at: datetime | None
    lease_expires_at: datetime | None
    has_expired_lease: bool
    db_now: datetime


async def status_counts(db: Executor) -> list[StatusCount]:
    rows = await db.fetch(load("status_counts"))
    return [StatusCount(**dict(row)) for row in rows]


async def lease_holders(db: Executor) -> list[LeaseHolder]:
    rows = await db.fetch(load("status_workers"))
    return [LeaseHolder(**dict(row)) for row in rows]
