"""Typed wrappers around the statements in `sql/`: the API's reads and its enqueue.

Writes that the CLI also makes (strategies, datasets, keys) go through `worker.admin`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from worker import jsonsafe
from worker.admin.run_filter import contains_pattern
from worker.api.sql import load
from worker.db import pools
from worker.schemas import RunCreate

Record = dict[str, Any]


async def create_pool(dsn: str, size: int, **options: Any) -> asyncpg.Pool:
    """`options`: asyncpg's, such as `statement_cache_size` (Settings.asyncpg_options)."""
    return await pools.create_pool(dsn, size=size, application_name="backtest-api", **options)


@dataclass(frozen=True)
class Enqueued:
    run: Record
    created: bool


class KeyConflict(Exception):
    """The Idempotency-Key belongs to a run created from a different request."""


def _same_request(run: Record, spec: RunCreate) -> bool:
    same: bool = (
        run["dataset_id"] == spec.dataset_id
        and run["strategy_id"] == spec.strategy_id
        and run["initial_capital"] == Decimal(str(spec.initial_capital)).quantize(Decimal("0.0001"))
        and run["mode"] == spec.mode.value
        and run["config"] == json.loads(jsonsafe.dumps(spec.config))
        and run["priority"] == spec.priority
        and run["max_attempts"] == spec.max_attempts
    )
    return same


async def enqueue(pool: asyncpg.Pool, spec: RunCreate, key: str | None) -> Enqueued:
    """Insert the run (foreign-key errors propagate); with a key already used, the run that
    has it. Raises KeyConflict when that run was created from other values."""
    row = await pool.fetchrow(
        load("insert_run"),
        spec.dataset_id,
        spec.strategy_id,
        spec.initial_capital,
        spec.config,
        spec.mode.value,
        spec.priority,
        spec.run_after,
        spec.max_attempts,
        key,
    )
    if row is not None:
        return Enqueued(dict(row), created=True)
    existing = await pool.fetchrow(load("run_by_key"), key)
    if existing is None:  # the holder was deleted between the two statements
        return await enqueue(pool, spec, key)
    if not _same_request(dict(existing), spec):
        raise KeyConflict(key)
    return Enqueued(dict(existing), created=False)


async def run_inputs(pool: asyncpg.Pool, dataset_id: uuid.UUID, strategy_id: uuid.UUID) -> Record:
    row = await pool.fetchrow(load("run_inputs"), dataset_id, strategy_id)
    assert row is not None
    return dict(row)


async def get_run(pool: asyncpg.Pool, run_id: uuid.UUID) -> Record | None:
    row = await pool.fetchrow(load("get_run"), run_id)
    return None if row is None else dict(row)


@dataclass(frozen=True)
class RunFilter:
    status: str | None = None
    strategy_id: uuid.UUID | None = None
    dataset_id: uuid.UUID | None = None
    mode: str | None = None
    created_before: datetime | None = None
    created_after: datetime | None = None
    label: str | None = None  # part of config.label, any case


async def list_runs(
    pool: asyncpg.Pool,
    where: RunFilter,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Record]:
    rows = await pool.fetch(
        load("list_runs"),
        where.status,
        where.strategy_id,
        where.dataset_id,
        where.mode,
        where.created_before,
        where.created_after,
        after[0] if after else None,
        after[1] if after else None,
        limit,
        None if where.label is None else contains_pattern(where.label),
    )
    return [dict(row) for row in rows]


async def cancel_run(pool: asyncpg.Pool, run_id: uuid.UUID) -> Record | None:
    """Request cancellation; returns the run (unchanged when it had already finished)."""
    row = await pool.fetchrow(load("cancel_run"), run_id)
    if row is not None:
        return dict(row)
    return await get_run(pool, run_id)


@dataclass(frozen=True)
class RunState:
    status: str
    progress: dict[str, Any] | None
    completed: dict[str, Any] | None


async def run_state(pool: asyncpg.Pool, run_id: uuid.UUID) -> RunState | None:
    row = await pool.fetchrow(load("run_state"), run_id)
    return None if row is None else RunState(row["status"], row["progress"], row["completed"])


async def run_exists(pool: asyncpg.Pool, run_id: uuid.UUID) -> bool:
    exists: bool = await pool.fetchval(load("run_exists"), run_id)
    return exists


async def list_events(
    pool: asyncpg.Pool, run_id: uuid.UUID, after_id: int, event_type: str | None, limit: int
) -> list[Record]:
    rows = await pool.fetch(load("list_events"), run_id, after_id, event_type, limit)
    return [dict(row) for row in rows]


async def list_artifacts(pool: asyncpg.Pool, run_id: uuid.UUID) -> list[Record]:
    return [dict(row) for row in await pool.fetch(load("list_artifacts"), run_id)]


async def get_artifact(pool: asyncpg.Pool, run_id: uuid.UUID, filename: str) -> Record | None:
    row = await pool.fetchrow(load("get_artifact"), run_id, filename)
    return None if row is None else dict(row)


async def api_key(pool: asyncpg.Pool, key_hash: str) -> Record | None:
    row = await pool.fetchrow(load("api_key"), key_hash)
    return None if row is None else dict(row)


async def list_catalog(
    pool: asyncpg.Pool, table: str, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Record]:
    """`table` is `strategies` or `datasets` (it picks a statement file, never SQL text)."""
    statement = {"strategies": "list_strategies", "datasets": "list_datasets"}[table]
    rows = await pool.fetch(
        load(statement), after[0] if after else None, after[1] if after else None, limit
    )
    return [dict(row) for row in rows]


async def get_catalog(pool: asyncpg.Pool, table: str, row_id: uuid.UUID) -> Record | None:
    statement = {"strategies": "get_strategy", "datasets": "get_dataset"}[table]
    row = await pool.fetchrow(load(statement), row_id)
    return None if row is None else dict(row)


async def schema_revision(pool: asyncpg.Pool) -> str | None:
    value = await pool.fetchval(load("schema_revision"))
    return None if value is None else str(value)
