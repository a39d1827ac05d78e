"""Response models of the HTTP API: the shared schemas' read models, plus links and pages."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from starlette.responses import Response

from worker.api.problems import Problem
from worker.db.enums import ArtifactKind
from worker.schemas import DatasetRead, EventRead, RunRead, StrategyRead
from worker.schemas.types import UtcDatetime

PREFIX = "/api/v1"
T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


class RunLinks(BaseModel):
    self: str
    events: str
    artifacts: str
    stream: str
    ws: str
    cancel: str


class RunOut(RunRead):
    idempotency_key: str | None = None
    links: RunLinks


def run_out(row: dict[str, Any]) -> RunOut:
    base = f"{PREFIX}/runs/{row['id']}"
    links = RunLinks(
        self=base,
        events=f"{base}/events",
        artifacts=f"{base}/artifacts",
        stream=f"{base}/stream",
        ws=f"{base}/ws",
        cancel=f"{base}/cancel",
    )
    return RunOut.model_validate({**row, "run_metadata": row["metadata"], "links": links})


def json_response(model: BaseModel, status_code: int = 200, **headers: str) -> Response:
    """The model as JSON, serialized once (FastAPI would validate a returned model again)."""
    return Response(
        model.model_dump_json(), status_code, headers=headers, media_type="application/json"
    )


class ArtifactOut(BaseModel):
    """An artifact row without its storage path (where the server keeps it is its business)."""

    id: uuid.UUID
    run_id: uuid.UUID
    kind: ArtifactKind
    filename: str
    mime_type: str
    size_bytes: int
    sha256: str
    created_at: UtcDatetime
    download: str


def artifact_out(row: dict[str, Any]) -> ArtifactOut:
    url = f"{PREFIX}/runs/{row['run_id']}/artifacts/{row['filename']}"
    return ArtifactOut.model_validate({**row, "download": url})


class EventOut(EventRead):
    pass


class StrategyOut(StrategyRead):
    pass


class DatasetOut(DatasetRead):
    pass


class Health(BaseModel):
    status: str
    listening: bool = Field(description="the process's LISTEN connection is up")
    subscribers: int = Field(description="live streams (SSE and WebSocket) of this process")


class Ready(BaseModel):
    status: str
    schema_revision: str | None
    expected_revision: str


def encode_cursor(*parts: Any) -> str:
    text = json.dumps([p.isoformat() if isinstance(p, datetime) else str(p) for p in parts])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_time_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """A cursor from `encode_cursor(created_at, id)`; anything else is a 422."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, row_id = json.loads(raw)
        return datetime.fromisoformat(when), uuid.UUID(row_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise Problem(422, "cursor is not one this API returned", slug="invalid-cursor") from None


def decode_id_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        (last_id,) = json.loads(raw)
        return int(last_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise Problem(422, "cursor is not one this API returned", slug="invalid-cursor") from None
