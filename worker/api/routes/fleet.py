"""Operating the fleet over HTTP: queue-wide metrics, the workers, pause/resume."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from worker.api.auth import ReadKey, WriteKey
from worker.api.context import ApiContext, api_context
from worker.api.problems import PROBLEM_RESPONSES
from worker.observability import queue_gauges
from worker.queue import fleet

router = APIRouter(tags=["fleet"], responses=PROBLEM_RESPONSES)
metrics_router = APIRouter(tags=["fleet"], responses=PROBLEM_RESPONSES)  # at /metrics
Context = Annotated[ApiContext, Depends(api_context)]


class WorkerOut(BaseModel):
    worker_id: str
    hostname: str
    pid: int
    version: str
    concurrency: int
    state: str = Field(description="running, stopping or stopped")
    alive: bool = Field(description="not stopped, and beat within LEASE_SECONDS")
    running_runs: int
    started_at: datetime
    last_beat: datetime


class QueueOut(BaseModel):
    paused: bool
    changed_at: datetime | None = Field(description="when paused or resumed last")
    changed_by: str | None
    runs: dict[str, int] = Field(description="runs by status")
    runnable: int = Field(description="pending runs that may be claimed now")
    oldest_pending_age_seconds: float | None


@metrics_router.get(
    "/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}}
)
async def metrics(context: Context, _key: ReadKey) -> Response:
    """Queue-wide gauges in Prometheus' text format (each worker serves its own counters on
    METRICS_PORT). Scrape with a read key as the bearer token."""
    async with context.pool.acquire() as connection:
        data = await queue_gauges.snapshot(connection, context.settings.lease_seconds)
    return Response(queue_gauges.exposition(data), media_type=CONTENT_TYPE_LATEST)


@router.get("/workers", response_model=list[WorkerOut])
async def list_workers(context: Context, _key: ReadKey) -> list[WorkerOut]:
    """Every registered worker, idle ones too (rows silent for ten leases are deleted)."""
    rows = await fleet.list_workers(context.pool, context.settings.lease_seconds)
    return [WorkerOut.model_validate(row, from_attributes=True) for row in rows]


async def queue_summary(context: ApiContext) -> QueueOut:
    """Runs by status and the pause flag (the /queue route, and the dashboard)."""
    from worker.queue import queries

    async with context.pool.acquire() as connection:
        pause = await fleet.queue_state(connection)
        counts = await queries.status_counts(connection)
    pending = next((c for c in counts if c.status == "pending"), None)
    age = pending.oldest_pending_age if pending else None
    return QueueOut(
        paused=pause.paused,
        changed_at=pause.changed_at,
        changed_by=pause.changed_by,
        runs={c.status: c.runs for c in counts},
        runnable=pending.runnable if pending else 0,
        oldest_pending_age_seconds=None if age is None else age.total_seconds(),
    )


@router.get("/queue", response_model=QueueOut)
async def get_queue(context: Context, _key: ReadKey) -> QueueOut:
    """Runs by status, and whether claiming is paused."""
    return await queue_summary(context)


@router.post("/queue/pause", response_model=QueueOut)
async def pause(context: Context, key: WriteKey) -> QueueOut:
    """Stop every worker from claiming (running runs finish; processes keep running)."""
    await fleet.set_paused(context.pool, True, f"api:{key.name}")
    return await queue_summary(context)


@router.post("/queue/resume", response_model=QueueOut)
async def resume(context: Context, key: WriteKey) -> QueueOut:
    """Let the workers claim again; idle workers are woken at once (NOTIFY runs_pending)."""
    await fleet.set_paused(context.pool, False, f"api:{key.name}")
    return await queue_summary(context)
