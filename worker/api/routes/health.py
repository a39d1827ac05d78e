"""`/healthz` (the process answers) and `/readyz` (PostgreSQL answers and the schema is at the
newest migration). Neither needs a key."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from worker.api import queries
from worker.api.context import ApiContext, api_context
from worker.api.models import Health, Ready

router = APIRouter(tags=["health"])
Context = Annotated[ApiContext, Depends(api_context)]
READY_TIMEOUT_SECONDS = 2.0


@router.get("/healthz", response_model=Health)
async def healthz(context: Context) -> Health:
    return Health(
        status="ok",
        listening=context.hub.connected.is_set(),
        subscribers=context.hub.subscribers,
    )


@router.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
async def readyz(context: Context) -> JSONResponse:
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            revision = await queries.schema_revision(context.pool)
        reachable = True
    except Exception:
        revision, reachable = None, False
    ready = reachable and revision == context.head_revision
    body = Ready(
        status="ready" if ready else ("database unreachable" if not reachable else "schema behind"),
        schema_revision=revision,
        expected_revision=context.head_revision,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
