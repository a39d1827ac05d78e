"""Artifacts: files a run produced (plots, reports, CSV, JSON), stored behind a URI."""

from __future__ import annotations

import uuid

from pydantic import Field

from worker.db.enums import ArtifactKind
from worker.schemas.base import CreateModel, ReadModel
from worker.schemas.types import MimeType, Sha256Hex, UtcDatetime


class ArtifactCreate(CreateModel):
    run_id: uuid.UUID
    kind: ArtifactKind
    filename: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00]+$")
    storage_path: str = Field(min_length=1, description="file path or s3:// URI")
    mime_type: MimeType
    size_bytes: int = Field(ge=0)
    sha256: Sha256Hex


class ArtifactRead(ReadModel):
    id: uuid.UUID
    run_id: uuid.UUID
    kind: ArtifactKind
    filename: str
    storage_path: str
    mime_type: str
    size_bytes: int
    sha256: str
    created_at: UtcDatetime
