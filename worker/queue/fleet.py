"""The fleet's own rows, read and written by workers, the CLI and the API: the worker
registry, the pause flag, retrying a finished run, and the schema check at start."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from worker.queue.queries import Executor
from worker.queue.sql import load


class SchemaNotReady(Exception):
    """The database is not migrated (or is behind this code)."""


async def schema_revision(db: Executor) -> str | None:
    try:
        value = await db.fetchval(load("schema_revision"))
    except asyncpg.UndefinedTableError:
        return None
    return None if value is None else str(value)


async def worker_stopped(db: Executor, worker_id: str) -> None:
    await db.execute(load("worker_stopped"), worker_id)


async def expire_workers(db: Executor, silent_seconds: float) -> None:
    await db.execute(load("expire_workers"), silent_seconds)


@dataclass(frozen=True)
class RegisteredWorker:
    worker_id: str
    hostname: str
    pid: int
    version: str
    concurrency: int
    state: str
    started_at: datetime
    last_beat: datetime
    alive: bool
    running_runs: int


async def list_workers(db: Executor, alive_within_seconds: float) -> list[RegisteredWorker]:
    rows = await db.fetch(load("list_workers"), alive_within_seconds)
    return [RegisteredWorker(**dict(row)) for row in rows]


@dataclass(frozen=True)
class PauseState:
    paused: bool
    changed_at: datetime | None
    changed_by: str | None


async def queue_state(db: Executor) -> PauseState:
    row = await db.fetchrow(load("queue_state"))
    if row is None:
        return PauseState(False, None, None)
    return PauseState(row["paused"], row["changed_at"], row["changed_by"])


async def set_paused(db: Executor, paused: bool, by: str) -> bool:
    """Pause or resume claiming; True when this call changed it."""
    return await db.fetchval(load("pause"), paused, by) is not None


@dataclass(frozen=True)
class Retried:
    id: uuid.UUID
    status: str
    attempts: int
    max_attempts: int


class NotRetryable(Exception):
    """`retry_run` refused a failed or cancelled run: a sweep's child (retry its sweep), or a
    sweep whose children are still stopping. `message` and `hint` are the database's."""

    def __init__(self, message: str, hint: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


async def retry_run(db: Executor, run_id: uuid.UUID, attempts: int) -> Retried | None:
    """A failed or cancelled run back to pending (a sweep: to waiting, with its failed and
    cancelled children pending) with `attempts` more attempts; None when it is missing or not
    failed/cancelled; NotRetryable when the database refuses it (migration 0012)."""
    try:
        row = await db.fetchrow(load("retry_run"), run_id, attempts)
    except asyncpg.ObjectNotInPrerequisiteStateError as error:
        raise NotRetryable(error.message, error.hint) from None
    return None if row is None else Retried(**dict(row))
