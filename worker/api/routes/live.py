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
from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect

from worker.admin.apikeys import Scope
from worker.api import queries
from worker.api.auth import StreamKey, authorize
from worker.api.context import ApiContext, api_context
from worker.api.hub import CLOSED, Message, Subscription
from worker.api.problems import PROBLEM_RESPONSES, Problem
from worker.api.sse import EventStream

router = APIRouter(prefix="/runs/{run_id}", tags=["live"], responses=PROBLEM_RESPONSES)
Context = Annotated[ApiContext, Depends(api_context)]
PING_SECONDS = 15
WS_SERVICE_RESTART = 1012  # the close code uvicorn itself sends when it stops


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
    context: ApiContext,
    subscription: Subscription,
    state: queries.RunState,
    pings: bool = False,
) -> AsyncGenerator[Message, None]:
    """Progress messages then the completion (and, with `pings`, the hub's heartbeat `PING`);
    ends early when the subscription is closed. The subscription ends with the iterator."""
    run_id = uuid.UUID(subscription.run_id)
    try:
        while True:
            if state.completed is not None:
                yield Message("completed", _dumps(state.completed))
                return
            if state.progress is not None:
                yield Message("progress", _dumps(state.progress))
            while (message := await subscription.next(pings)).kind != "resync":
                if message is CLOSED:
                    return
                yield message
                if message.kind == "completed":
                    return
            fresh = await queries.run_state(context.pool, run_id)
            if fresh is None:  # deleted while watched
                return
            state = fresh
    finally:
        context.hub.unsubscribe(subscription)


def event_stream(
    context: ApiContext, subscription: Subscription, state: queries.RunState
) -> EventStream:
    return EventStream(
        messages(context, subscription, state, pings=True), on_disconnect=subscription.close
    )


@router.get(
    "/stream",
    response_class=EventStream,
    responses={200: {"content": {"text/event-stream": {}}, "description": "SSE"}},
)
async def stream(run_id: uuid.UUID, context: Context, _key: StreamKey) -> EventStream:
    """Server-Sent Events: `event: progress` …, then `event: completed`, then the stream ends.
    Browsers' EventSource cannot send headers: pass the key as `?access_token=`."""
    return event_stream(context, *await open_stream(context, run_id))


@router.websocket("/ws")
async def websocket(run_id: uuid.UUID, socket: WebSocket) -> None:
    """WebSocket: `{"event": "progress", "data": {…}}` frames, then one `completed`, then
    close (1000); 1012 when the server stops first. The key: `Authorization: Bearer`, or
    `?access_token=` from a browser."""
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
    # as the SSE stream: frames are sent from this task; a disconnect closes the subscription
    watch = asyncio.create_task(_until_disconnect(socket))
    watch.add_done_callback(lambda _task: subscription.close())
    source = messages(context, subscription, state)
    try:
        async for message in source:
            await socket.send_text(message.ws_text)
    except (WebSocketDisconnect, OSError):
        return  # the client left while a frame was sent
    finally:
        watch.cancel()
        await source.aclose()
    if watch.done() and not watch.cancelled():
        return  # the client left: nothing to close
    with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
        await socket.close(code=WS_SERVICE_RESTART if context.hub.draining else 1000)


async def _until_disconnect(socket: WebSocket) -> None:
    while (await socket.receive())["type"] != "websocket.disconnect":
        pass
