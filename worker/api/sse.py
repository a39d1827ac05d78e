"""A Server-Sent Events response that streams in the request's own task.

sse-starlette ran four tasks per connection in an anyio task group (the stream, a ping
timer, a disconnect listener, a shutdown poller) and a cancel scope per send: most of the
API's CPU per subscriber at 1,000 of them. Here the request's task writes the frames; the
source yields the heartbeat's ping frame itself (the hub's one timer: `Hub.heartbeat`). One
small task waits for the client's disconnect and calls `on_disconnect`, which must make the
source end soon (the hub's `close()`); the server's shutdown ends sources the same way
(`Hub.drain`, `worker.api.shutdown`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Protocol

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

PING_FRAME = b": ping\r\n\r\n"
SEND_TIMEOUT_SECONDS = 30.0  # a client that reads nothing for this long is dropped


class Frame(Protocol):
    @property
    def sse_frame(self) -> bytes: ...

    @property
    def final(self) -> bool:
        """The stream's last frame: sent with the body's end, one write instead of two."""
        ...


def frame(event: str, data: str) -> bytes:
    """One SSE message; a multi-line `data` becomes one `data:` line per line."""
    lines = "".join(f"data: {line}\r\n" for line in data.splitlines() or [""])
    return f"event: {event}\r\n{lines}\r\n".encode()


class EventStream(Response):
    def __init__(
        self,
        frames: AsyncGenerator[Frame, None],
        *,
        on_disconnect: Callable[[], None],
        headers: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> None:
        self.frames = frames
        self.on_disconnect = on_disconnect
        self.status_code = status_code
        # set here, not on the class: FastAPI would document a class attribute as a string body
        self.media_type = "text/event-stream"
        self.background = None
        self.init_headers(
            {"Cache-Control": "no-store", "X-Accel-Buffering": "no", **(headers or {})}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = asyncio.create_task(_until_disconnect(receive))
        watcher.add_done_callback(lambda _task: self.on_disconnect())
        start = {"type": "http.response.start", "status": self.status_code}
        try:
            await send({**start, "headers": self.raw_headers})
            more = True
            async for item in self.frames:
                more = not item.final
                body = {"type": "http.response.body", "body": item.sse_frame, "more_body": more}
                async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                    await send(body)
                if not more:
                    break
            if more:
                await send({"type": "http.response.body", "body": b""})
        except TimeoutError:
            pass  # returning with the response unfinished: uvicorn closes the connection
        finally:
            watcher.cancel()
            await self.frames.aclose()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
