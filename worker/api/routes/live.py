"""Live progress of a run over Server-Sent Events and WebSocket.

Both send `progress` messages (the `run_progress` payload) and one `completed` message (the
`run_completed` payload), then close. The subscription is taken before the run is read, so
nothing falls between the read and the first notification; a run already finished gets its
final state at once; after a reconnect of the hub's LISTEN connection the run is read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from sse_starlette import EventSourceResponse, ServerSentEvent

from worker.admin.apikeys import Scope
from worker.api import queries
from worker.api.auth import StreamKey, authorize
from worker.api.context import ApiContext, api_context
from worker.api.hub import Message, Subscription
from worker.api.problems import PROBLEM_RESPONSES, Problem

router = APIRouter(prefix="/runs/{run_id}", tags=["live"], responses=PROBLEM_RESPONSES)
Context = Annotated[ApiContext, Depends(api_context)]
PING_SECONDS = 15


async def open_stream(
    context: ApiContext, run_id: uuid.UUID
) -> tuple[Subscription, queries.RunState]:
    subscription = context.hub.subscribe(run_id)
    try:
        state = await queries.run_state(context.pool, run_id)
    except BaseException:
        context.hub.unsubscribe(subscription)
        raise
    if state is None:
        context.hub.unsubscribe(subscription)
        raise Problem(404, f"no run with id {run_id}", slug="not-found")
    return subscription, state


def _dumps(payload: dict[str, object]) -> str:
    return json.dumps(payload, separators=(",", ":"))


async def messages(
    context: ApiContext, subscription: Subscription, state: queries.RunState
) -> AsyncIterator[Message]:
    """Progress messages then the completion; the subscription ends with the iterator."""
    run_id = uuid.UUID(subscription.run_id)
    try:
        while True:
            if state.completed is not None:
                yield Message("completed", _dumps(state.completed))
                return
            if state.progress is not None:
                yield Message("progress", _dumps(state.progress))
            while (message := await subscription.next()).kind != "resync":
                yield message
                if message.kind == "completed":
                    return
            fresh = await queries.run_state(context.pool, run_id)
            if fresh is None:  # deleted while watched
                return
            state = fresh
    finally:
        context.hub.unsubscribe(subscription)


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE"}},
)
async def stream(run_id: uuid.UUID, context: Context, _key: StreamKey) -> EventSourceResponse:
    """Server-Sent Events: `event: progress` …, then `event: completed`, then the stream ends.
    Browsers' EventSource cannot send headers: pass the key as `?access_token=`."""
    subscription, state = await open_stream(context, run_id)

    async def events() -> AsyncIterator[ServerSentEvent]:
        async for message in messages(context, subscription, state):
            yield ServerSentEvent(data=message.data, event=message.kind)

    return EventSourceResponse(
        events(), ping=PING_SECONDS, send_timeout=30, headers={"Cache-Control": "no-store"}
    )


@router.websocket("/ws")
async def websocket(run_id: uuid.UUID, socket: WebSocket) -> None:
    """WebSocket: `{"event": "progress", "data": {…}}` frames, then one `completed`, then
    close (1000). The key: `Authorization: Bearer`, or `?access_token=` from a browser."""
    context: ApiContext = socket.app.state.api
    header = socket.headers.get("authorization", "")
    secret = header[7:].strip() if header[:7].lower() == "bearer " else None
    try:
        await authorize(context, secret or socket.query_params.get("access_token"), Scope.READ)
        subscription, state = await open_stream(context, run_id)
    except Problem as problem:
        await socket.close(code=4000 + problem.status, reason=problem.detail[:120])
        return
    await socket.accept()
    forward = asyncio.create_task(_forward(socket, messages(context, subscription, state)))
    watch = asyncio.create_task(_until_disconnect(socket))
    try:
        done, _ = await asyncio.wait({forward, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (forward, watch):
            task.cancel()
        for task in (forward, watch):
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await task
        context.hub.unsubscribe(subscription)
    if forward in done and forward.exception() is None:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await socket.close(code=1000)


async def _forward(socket: WebSocket, source: AsyncIterator[Message]) -> None:
    async for message in source:
        await socket.send_text(message.ws_text)


async def _until_disconnect(socket: WebSocket) -> None:
    while (await socket.receive())["type"] != "websocket.disconnect":
        pass
