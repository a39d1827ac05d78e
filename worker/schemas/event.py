"""Events: the time-ordered log of a run (lifecycle, trades, errors, final metrics)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from worker.schemas.base import CreateModel, ReadModel
from worker.schemas.types import UtcDatetime

COPY_COLUMNS = ("run_id", "event_type", "timestamp", "payload")
"""The columns, in order, of the CSV rows a run's outcome carries for `COPY events`."""


class EventCreate(CreateModel):
    run_id: uuid.UUID
    event_type: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")
    timestamp: UtcDatetime | None = Field(
        default=None, description="the bar's historical time for trades; now() when omitted"
    )
    payload: dict[str, Any] = Field(default_factory=dict)


class EventRead(ReadModel):
    id: int
    run_id: uuid.UUID
    event_type: str
    timestamp: UtcDatetime
    payload: dict[str, Any]
    created_at: UtcDatetime
