"""The dashboard's live streams, with the cookie instead of a token in the URL: one run's
progress and completion (the API's stream, the same messages), and every run's changes
for the runs table, coalesced per run and sent at most every `BATCH_SECONDS`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends
from sse_starlette import EventSourceResponse, ServerSentEvent

from worker.api.context import ApiContext, api_context
from worker.api.dashboard.session import PATH, Reader
from worker.api.routes import live

router = APIRouter(prefix=PATH, include_in_schema=False)
Context = Annotated[ApiContext, Depends(api_context)]
BATCH_SECONDS = 0.5


def _response(events: AsyncIterator[ServerSentEvent]) -> EventSourceResponse:
    return EventSourceResponse(
        events, ping=live.PING_SECONDS, send_timeout=30, headers={"Cache-Control": "no-store"}
    )


@router.get("/runs/{run_id}/stream")
async def run_stream(run_id: uuid.UUID, context: Context, _visitor: Reader) -> EventSourceResponse:
    subscription, state = await live.open_stream(context, run_id)

    async def events() -> AsyncIterator[ServerSentEvent]:
        async for message in live.messages(context, subscription, state):
            yield ServerSentEvent(data=message.data, event=message.kind)

    return _response(events())


@router.get("/live")
async def all_runs(context: Context, _visitor: Reader) -> EventSourceResponse:
    """`event: runs`, data `{"inserted", "resync", "runs": [{"kind", "data"}, …]}`: what
    changed since the last message; `resync` (or `inserted`) asks the page to re-read."""
    firehose = context.hub.watch_all()

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            while True:
                batch = await firehose.next()
                yield ServerSentEvent(data=batch.json(), event="runs")
                await asyncio.sleep(BATCH_SECONDS)
        finally:
            context.hub.unwatch(firehose)

    return _response(events())
