"""A run's results: its events (paged by id) and its artifacts (listed, downloaded)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import IO, Annotated

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import Response, StreamingResponse

from worker.api import queries
from worker.api.auth import ReadKey
from worker.api.context import ApiContext, api_context
from worker.api.models import (
    ArtifactOut,
    EventOut,
    Page,
    artifact_out,
    decode_id_cursor,
    encode_cursor,
)
from worker.api.problems import PROBLEM_RESPONSES, Problem

router = APIRouter(prefix="/runs/{run_id}", tags=["results"], responses=PROBLEM_RESPONSES)
Context = Annotated[ApiContext, Depends(api_context)]
CHUNK_BYTES = 256 * 1024
Filename = Annotated[str, Path(max_length=255, pattern=r"^[^/\\\x00]+$")]


async def _require_run(context: ApiContext, run_id: uuid.UUID) -> None:
    if not await queries.run_exists(context.pool, run_id):
        raise Problem(404, f"no run with id {run_id}", slug="not-found")


@router.get("/events", response_model=Page[EventOut])
async def list_events(
    run_id: uuid.UUID,
    context: Context,
    _key: ReadKey,
    event_type: Annotated[str | None, Query(max_length=64, alias="type")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> Page[EventOut]:
    """The run's log in order; `type` keeps one event type (e.g. `trade_exit`)."""
    await _require_run(context, run_id)
    rows = await queries.list_events(
        context.pool, run_id, decode_id_cursor(cursor), event_type, limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[EventOut](
        items=[EventOut.model_validate(row) for row in rows],
        next_cursor=encode_cursor(rows[-1]["id"]) if more else None,
    )


@router.get("/artifacts", response_model=list[ArtifactOut])
async def list_artifacts(run_id: uuid.UUID, context: Context, _key: ReadKey) -> list[ArtifactOut]:
    await _require_run(context, run_id)
    return [artifact_out(row) for row in await queries.list_artifacts(context.pool, run_id)]


async def _chunks(handle: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


@router.get(
    "/artifacts/{filename}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the file"}},
)
async def download_artifact(
    run_id: uuid.UUID,
    filename: Filename,
    context: Context,
    _key: ReadKey,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """The file, streamed from local disk or S3, with its MIME type, size and ETag (its
    SHA-256). The row's path must lie under ARTIFACT_DIR/<run id>/, whatever it says."""
    return await artifact_response(context, run_id, filename, if_none_match)


#: An artifact opened in a browser (the dashboard) runs in an opaque origin: its scripts may
#: run (the report's charts) but cannot reach the dashboard's cookies, pages or API.
SANDBOX = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data:"
)


async def artifact_response(
    context: ApiContext,
    run_id: uuid.UUID,
    filename: str,
    if_none_match: str | None,
    *,
    inline: bool = False,
) -> Response:
    """The download, shared by the API and the dashboard; `inline` opens HTML and images in
    the browser (sandboxed) instead of saving them."""
    if filename in {".", ".."}:
        raise Problem(404, f"run {run_id} has no artifact {filename!r}", slug="not-found")
    row = await queries.get_artifact(context.pool, run_id, filename)
    if row is None:
        raise Problem(404, f"run {run_id} has no artifact {filename!r}", slug="not-found")
    if not context.artifacts.holds(row["storage_path"], str(run_id)):
        raise Problem(
            404, f"artifact {filename!r} is not in this server's storage", slug="not-found"
        )
    etag = f'"{row["sha256"]}"'
    quoted = filename.replace('"', "_")
    shown = inline and row["mime_type"].startswith(("text/html", "image/"))
    headers = {
        "ETag": etag,
        "Cache-Control": "private, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'{"inline" if shown else "attachment"}; filename="{quoted}"',
        "Content-Security-Policy": SANDBOX,
    }
    if if_none_match is not None and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    headers["Content-Length"] = str(row["size_bytes"])
    headers["Content-Type"] = row["mime_type"]  # as stored: Starlette would add a charset
    try:
        handle = await asyncio.to_thread(context.artifacts.open, row["storage_path"])
    except FileNotFoundError:
        raise Problem(410, f"the file of artifact {filename!r} is gone", slug="gone") from None
    return StreamingResponse(_chunks(handle), headers=headers)
