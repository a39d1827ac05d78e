"""The dashboard's live streams, with the cookie instead of a token in the URL: one run's
progress and completion (the API's stream, the same messages), and every run's changes
for the runs table, coalesced per run and sent at most every `BATCH_SECONDS`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import APIRouter, Depends

from worker.api.context import ApiContext, api_context
from worker.api.dashboard.session import PATH, Reader
from worker.api.hub import CLOSED, Batch, Message
from worker.api.routes import live
from worker.api.sse import EventStream

router = APIRouter(prefix=PATH, include_in_schema=False)
Context = Annotated[ApiContext, Depends(api_context)]
BATCH_SECONDS = 0.5


@router.get("/runs/{run_id}/stream")
async def run_stream(run_id: uuid.UUID, context: Context, _visitor: Reader) -> EventStream:
    return live.event_stream(context, *await live.open_stream(context, run_id))


@router.get("/live")
async def all_runs(context: Context, _visitor: Reader) -> EventStream:
    """`event: runs`, data `{"inserted", "resync", "runs": [{"kind", "data"}, …]}`: what
    changed since the last message; `resync` (or `inserted`) asks the page to re-read."""
    firehose = context.hub.watch_all()

    async def events() -> AsyncGenerator[Batch | Message, None]:
        try:
            while (item := await firehose.next(pings=True)) is not CLOSED:
                yield item
                if isinstance(item, Batch):
                    await asyncio.sleep(BATCH_SECONDS)
        finally:
            context.hub.unwatch(firehose)

    return EventStream(events(), on_disconnect=firehose.close)
