"""Enqueueing, inspecting, cancelling and pruning runs from Python (the CLI and the demo)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import fsspec
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from worker.db import TERMINAL_STATUSES, Artifact, Dataset, Run, RunStatus, Strategy
from worker.schemas import RunCreate


class NotFound(LookupError):
    """No row with that id."""


async def enqueue_run(session: AsyncSession, spec: RunCreate) -> uuid.UUID:
    if await session.get(Dataset, spec.dataset_id) is None:
        raise NotFound(f"no dataset with id {spec.dataset_id}")
    if await session.get(Strategy, spec.strategy_id) is None:
        raise NotFound(f"no strategy with id {spec.strategy_id}")
    values = spec.model_dump(exclude_none=True)
    run = Run(**values)
    session.add(run)
    await session.commit()
    return run.id


async def enqueue_many(session: AsyncSession, specs: Sequence[RunCreate]) -> list[uuid.UUID]:
    """One statement for many runs (one `runs_pending` notification)."""
    runs = [Run(**spec.model_dump(exclude_none=True)) for spec in specs]
    session.add_all(runs)
    await session.commit()
    return [run.id for run in runs]


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> Run:
    run = (
        await session.execute(
            select(Run)
            .where(Run.id == run_id)
            .options(
                selectinload(Run.artifacts),
                selectinload(Run.strategy),
                selectinload(Run.dataset),
            )
        )
    ).scalar_one_or_none()
    if run is None:
        raise NotFound(f"no run with id {run_id}")
    return run


async def list_runs(
    session: AsyncSession, status: RunStatus | None = None, limit: int = 50
) -> list[Run]:
    query = select(Run).options(selectinload(Run.strategy)).order_by(Run.created_at.desc())
    if status is not None:
        query = query.where(Run.status == status)
    return list((await session.execute(query.limit(limit))).scalars())


async def cancel_run(session: AsyncSession, run_id: uuid.UUID) -> RunStatus:
    """Request cancellation: a pending run is cancelled at once (by the database), a running
    one is stopped by its worker within seconds; a finished run is left as it is."""
    result = await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status.not_in(TERMINAL_STATUSES))
        .values(cancel_requested=True)
        .returning(Run.status)
    )
    status = result.scalar_one_or_none()
    await session.commit()
    if status is None:
        return (await get_run(session, run_id)).status
    return status


@dataclass(frozen=True)
class PruneResult:
    runs: int
    files: int


async def prune_runs(session: AsyncSession, before: datetime, dry_run: bool = False) -> PruneResult:
    """Delete finished runs created before `before`, their events and artifacts (rows and
    files). Pending and running runs are never pruned."""
    old = select(Run.id).where(Run.created_at < before, Run.status.in_(TERMINAL_STATUSES))
    paths = list(
        (
            await session.execute(select(Artifact.storage_path).where(Artifact.run_id.in_(old)))
        ).scalars()
    )
    count = (await session.execute(select(func.count()).select_from(old.subquery()))).scalar_one()
    if dry_run:
        return PruneResult(count, len(paths))
    await session.execute(delete(Run).where(Run.id.in_(old)))
    await session.commit()
    removed = 0
    for path in paths:
        fs, local = fsspec.core.url_to_fs(path)
        if fs.exists(local):
            fs.rm(local)
            removed += 1
    return PruneResult(count, removed)
