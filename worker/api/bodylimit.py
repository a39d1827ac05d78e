"""Request bodies are bounded (413): `API_MAX_BODY_BYTES`, or `API_MAX_UPLOAD_BYTES` for the
dataset upload. A declared Content-Length over the limit is refused before reading; a chunked
body is counted as it arrives and cut off at the limit (the app then sees a disconnect, and
whatever it answers is dropped)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.api.problems import MEDIA_TYPE, Problem, problem_body

UPLOAD_PATH = "/api/v1/datasets"
# Before a 413, up to this much more of the body is read and dropped, so that a client still
# sending reads the answer instead of a connection reset; a larger body is cut off.
DRAIN_BYTES = 1_048_576


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    def _limit(self, scope: Scope) -> int:
        if scope["method"] == "POST" and scope["path"].rstrip("/") == UPLOAD_PATH:
            return self.max_upload
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            drain = declared.isdigit() and int(declared) - limit <= DRAIN_BYTES
            if drain:
                await _drain(receive, DRAIN_BYTES + limit)
            await _refuse(send, limit, scope["path"], close=not drain)
            return
        seen = 0
        refused = False

        async def bounded() -> Message:
            """Past the limit: answer 413 here and tell the app the client has gone."""
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    complete = True
                    if message.get("more_body", False):
                        complete = await _drain(receive, DRAIN_BYTES)
                    await _refuse(send, limit, scope["path"], close=not complete)
                    return {"type": "http.disconnect"}
            return message

        async def unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, bounded, unless_refused)


def _too_large(limit: int) -> Problem:
    return Problem(413, f"the request body is larger than {limit:,} bytes", slug="too-large")


async def _drain(receive: Receive, budget: int) -> bool:
    """Read and drop the body's rest (before answering: after it, uvicorn reads no more);
    False if it was longer than `budget`."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return True
        budget -= len(message.get("body", b""))
    return False


async def _refuse(send: Send, limit: int, path: str, *, close: bool) -> None:
    problem = _too_large(limit)
    body = problem_body(413, problem.detail, problem.slug, instance=path)
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", MEDIA_TYPE.encode()),
                (b"content-length", str(len(data)).encode()),
                *([(b"connection", b"close")] if close else []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
