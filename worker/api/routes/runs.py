"""Runs: enqueue (the SQL contract's INSERT), list, read, cancel."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Body, Depends, Header, Query, Response
from pydantic import BaseModel, Field

from worker.api import queries
from worker.api.auth import ReadKey, WriteKey
from worker.api.context import ApiContext, api_context
from worker.api.models import (
    Page,
    RunOut,
    decode_time_cursor,
    encode_cursor,
    json_response,
    run_out,
)
from worker.api.problems import PROBLEM_RESPONSES, Problem
from worker.api.validation import check_run, missing_reference
from worker.db.enums import RunMode, RunStatus
from worker.queue import fleet
from worker.schemas import RunCreate

router = APIRouter(prefix="/runs", tags=["runs"], responses=PROBLEM_RESPONSES)
Context = Annotated[ApiContext, Depends(api_context)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="a retried request with the same key returns the same run",
    ),
]


def _finite_json(spec: RunCreate) -> None:
    try:
        json.dumps(spec.config, allow_nan=False)
    except ValueError:
        raise Problem(
            422, "config holds NaN or Infinity, which JSON cannot store", slug="validation"
        ) from None


@router.post("", status_code=201, response_model=RunOut)
async def create_run(
    spec: RunCreate,
    context: Context,
    _key: WriteKey,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Enqueue a run with the INSERT of the SQL contract (`runs_pending` wakes the workers).
    Inputs the worker would refuse (unknown ids, invalid params, an unknown config key, an
    unknown symbol) are a `422` with the worker's error type, and nothing is enqueued.

    With an `Idempotency-Key` already used: `200` and the run created then (same values), or
    `422` if that request had other values.
    """
    _finite_json(spec)
    await check_run(context.pool, context.inputs, spec)
    try:
        enqueued = await queries.enqueue(context.pool, spec, idempotency_key)
    except asyncpg.ForeignKeyViolationError as error:
        raise missing_reference(error.constraint_name, spec) from None
    except queries.KeyConflict:
        raise Problem(
            422,
            "this Idempotency-Key was used for a request with other values",
            slug="idempotency-key-reused",
        ) from None
    run = run_out(enqueued.run)
    if enqueued.created:
        return json_response(run, 201, Location=run.links.self)
    return json_response(run, 200, Location=run.links.self, **{"Idempotent-Replayed": "true"})


@router.get("", response_model=Page[RunOut])
async def list_runs(
    context: Context,
    _key: ReadKey,
    status: RunStatus | None = None,
    strategy_id: uuid.UUID | None = None,
    dataset_id: uuid.UUID | None = None,
    mode: RunMode | None = None,
    created_before: datetime | None = None,
    created_after: datetime | None = None,
    label: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Page[RunOut]:
    """Newest first; `next_cursor` pages on (filters must stay the same). `label` keeps the
    runs whose `config.label` contains it (any case)."""
    where = queries.RunFilter(
        status=status.value if status else None,
        strategy_id=strategy_id,
        dataset_id=dataset_id,
        mode=mode.value if mode else None,
        created_before=created_before,
        created_after=created_after,
        label=label,
    )
    rows = await queries.list_runs(context.pool, where, decode_time_cursor(cursor), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
    return Page[RunOut](items=[run_out(row) for row in rows], next_cursor=next_cursor)


async def _run_or_404(context: ApiContext, run_id: uuid.UUID) -> RunOut:
    row = await queries.get_run(context.pool, run_id)
    if row is None:
        raise Problem(404, f"no run with id {run_id}", slug="not-found")
    return run_out(row)


@router.get("/{run_id}", response_model=RunOut)
async def get_run(run_id: uuid.UUID, context: Context, _key: ReadKey) -> Response:
    """The run with its metrics, error and latest progress."""
    return json_response(await _run_or_404(context, run_id))


@router.post("/{run_id}/cancel", response_model=RunOut)
async def cancel_run(
    run_id: uuid.UUID, response: Response, context: Context, _key: WriteKey
) -> RunOut:
    """Cancel: a pending run is cancelled at once (200); a running one is stopped by its
    worker within seconds (202, `cancel_requested` is true); a finished run is unchanged."""
    row = await queries.cancel_run(context.pool, run_id)
    if row is None:
        raise Problem(404, f"no run with id {run_id}", slug="not-found")
    if row["status"] == RunStatus.RUNNING:
        response.status_code = 202
    return run_out(row)


class RetryIn(BaseModel):
    attempts: int = Field(3, ge=1, le=100, description="attempts the retried run may make")


@router.post("/{run_id}/retry", response_model=RunOut)
async def retry_run(
    run_id: uuid.UUID,
    context: Context,
    _key: WriteKey,
    body: Annotated[RetryIn | None, Body()] = None,
) -> Response:
    """Run a failed or cancelled run again: pending, with `attempts` more attempts
    (`max_attempts` becomes `attempts` so far + this). Its events and artifacts stay; its
    error moves into a `retry_requested` event. A sweep waits again, its failed and cancelled
    children pending, its succeeded ones kept. Another status, a sweep's child (retry the
    sweep) or a sweep whose children are still stopping is a `409`."""
    try:
        retried = await fleet.retry_run(context.pool, run_id, (body or RetryIn()).attempts)
    except fleet.NotRetryable as refused:
        message = refused.message + (f" ({refused.hint})" if refused.hint else "")
        raise Problem(409, message, slug="not-retryable") from None
    if retried is None:
        current = await _run_or_404(context, run_id)
        raise Problem(
            409,
            f"run {run_id} is {current.status.value}: "
            "only a failed or cancelled run can be retried",
            slug="not-retryable",
        )
    return json_response(await _run_or_404(context, run_id))
