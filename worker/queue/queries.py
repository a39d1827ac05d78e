"""Typed wrappers around the statements in `sql/`: the queue's only database access."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from worker import jsonsafe
from worker.queue.handler import RunJob
from worker.queue.sql import load

Executor = asyncpg.Connection | asyncpg.Pool | PoolConnectionProxy


async def setup_connection(connection: asyncpg.Connection) -> None:
    """JSON codecs that never send NaN/Infinity (JSONB rejects them).

    They use the binary wire format, so that binary COPY (`copy_records_to_table`) can write
    JSON and JSONB columns too.
    """
    await connection.set_type_codec(
        "jsonb",
        encoder=jsonsafe.encode_jsonb,
        decoder=jsonsafe.decode_jsonb,
        schema="pg_catalog",
        format="binary",
    )
    await connection.set_type_codec(
        "json",
        encoder=jsonsafe.encode_json,
        decoder=jsonsafe.decode_json,
        schema="pg_catalog",
        format="binary",
    )


@dataclass(frozen=True)
class Completion:
    """A successful run's final write, validated and ready for the database."""

    id: uuid.UUID
    attempt: int
    # Numeric values as text (Postgres parses and rounds them to the column's scale).
    final_value: str
    total_return: str
    sharpe_ratio: str | None
    max_drawdown: str
    win_rate: str | None
    total_trades: int
    winning_trades: int
    losing_trades: int
    metrics_json: str
    metadata_json: str


async def claim(db: Executor, worker_id: str, limit: int, lease_seconds: float) -> list[RunJob]:
    rows = await db.fetch(load("claim"), worker_id, limit, lease_seconds)
    return [
        RunJob(
            id=row["id"],
            dataset_id=row["dataset_id"],
            strategy_id=row["strategy_id"],
            mode=row["mode"],
            initial_capital=row["initial_capital"],
            config=dict(row["config"] or {}),
            attempt=row["attempts"],
            max_attempts=row["max_attempts"],
            worker_id=worker_id,
        )
        for row in rows
    ]


async def complete(db: Executor, worker_id: str, items: Sequence[Completion]) -> set[uuid.UUID]:
    """Mark runs succeeded, fenced per row; returns the ids actually written."""
    rows = await db.fetch(
        load("complete_batch"),
        worker_id,
        [item.id for item in items],
        [item.attempt for item in items],
        [item.final_value for item in items],
        [item.total_return for item in items],
        [item.sharpe_ratio for item in items],
        [item.max_drawdown for item in items],
        [item.win_rate for item in items],
        [item.total_trades for item in items],
        [item.winning_trades for item in items],
        [item.losing_trades for item in items],
        [item.metrics_json for item in items],
        [item.metadata_json for item in items],
    )
    return {row["id"] for row in rows}


async def fail(
    db: Executor, run_id: uuid.UUID, worker_id: str, attempt: int, error: dict[str, Any]
) -> bool:
    return await db.fetchval(load("fail"), run_id, worker_id, attempt, error) is not None


async def retry(
    db: Executor,
    run_id: uuid.UUID,
    worker_id: str,
    attempt: int,
    error: dict[str, Any],
    delay_seconds: float,
) -> bool:
    row = await db.fetchval(load("retry"), run_id, worker_id, attempt, error, delay_seconds)
    return row is not None


async def cancel(db: Executor, run_id: uuid.UUID, worker_id: str, attempt: int) -> bool:
    return await db.fetchval(load("cancel"), run_id, worker_id, attempt) is not None


async def hand_back(
    db: Executor, worker_id: str, held: Sequence[tuple[uuid.UUID, int]]
) -> set[uuid.UUID]:
    rows = await db.fetch(
        load("hand_back"), worker_id, [run_id for run_id, _ in held], [a for _, a in held]
    )
    return {row["id"] for row in rows}


async def heartbeat(
    db: Executor, worker_id: str, held: Sequence[tuple[uuid.UUID, int]], lease_seconds: float
) -> dict[uuid.UUID, bool]:
    """Extend leases; returns {run id: cancel_requested} for the runs still held."""
    rows = await db.fetch(
        load("heartbeat"),
        worker_id,
        [run_id for run_id, _ in held],
        [attempt for _, attempt in held],
        lease_seconds,
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
