"""Enqueueing, inspecting, cancelling and pruning runs from Python (the CLI and the demo)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from worker.admin.run_filter import RunFilter
from worker.db import TERMINAL_STATUSES, Dataset, Run, RunStatus, Strategy
from worker.schemas import RunCreate
from worker.storage import FileStore


class NotFound(LookupError):
    """No row with that id; `listing` is the command that lists the ids there are."""

    def __init__(self, message: str, listing: str = "runs list") -> None:
        super().__init__(message)
        self.listing = listing


async def enqueue_run(session: AsyncSession, spec: RunCreate) -> uuid.UUID:
    """Insert a run after the checks a worker would make (`validate_request`): a bad config
    or parameter raises `PermanentRunError` naming it, and nothing is inserted."""
    from worker.pipeline.inputs import validate_request  # the engine: only when enqueueing

    dataset = await session.get(Dataset, spec.dataset_id)
    if dataset is None:
        raise NotFound(f"no dataset with id {spec.dataset_id}", "dataset list")
    strategy = await session.get(Strategy, spec.strategy_id)
    if strategy is None:
        raise NotFound(f"no strategy with id {spec.strategy_id}", "strategy list")
    validate_request(
        spec,
        {
            "dataset_name": dataset.name,
            "dataset_hash": dataset.hash,
            "storage_uri": dataset.storage_uri,
            "timeframe": dataset.timeframe,
            "symbols": dataset.symbols,
            "strategy_name": strategy.name,
            "strategy_version": strategy.version,
            "strategy_params": strategy.params,
        },
    )
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


async def list_runs(session: AsyncSession, where: RunFilter, limit: int = 50) -> list[Run]:
    """The newest runs that match, with their strategy and dataset loaded."""
    query = (
        select(Run)
        .options(selectinload(Run.strategy), selectinload(Run.dataset))
        .order_by(Run.created_at.desc(), Run.id.desc())
    )
    query = where.apply(query)
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


async def prune_runs(
    session: AsyncSession, before: datetime, store: FileStore, dry_run: bool = False
) -> PruneResult:
    """Delete finished runs created before `before`, their events, artifact rows and files.
    Pending and running runs are never pruned.

    Files go by run folder (`<run id>/` under ARTIFACT_DIR, every attempt's files, those of
    attempts that lost their lease included), never by the paths the rows name: a row is
    data, and must not make prune delete a file outside ARTIFACT_DIR.
    """
    old = select(Run.id).where(Run.created_at < before, Run.status.in_(TERMINAL_STATUSES))
    ids = list((await session.execute(old)).scalars())
    files = sum(len(store.files_under(str(run_id))) for run_id in ids)
    if dry_run or not ids:
        return PruneResult(len(ids), files)
    await session.execute(delete(Run).where(Run.id.in_(ids)))
    await session.commit()
    for run_id in ids:
        store.delete_prefix(str(run_id))
    return PruneResult(len(ids), files)
