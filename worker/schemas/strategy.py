"""Strategies are data: a name, a semantic version and `{"kind": …, …parameters}`.

The parameters of each kind are validated by the engine (worker.engine); here only the shape.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field, field_validator

from worker.schemas.base import CreateModel, ReadModel
from worker.schemas.types import BoundedObject, SemVer, UtcDatetime


class StrategyCreate(CreateModel):
    name: str = Field(min_length=1, max_length=255)
    version: SemVer = "1.0.0"
    description: str | None = None
    params: BoundedObject = Field(
        description='{"kind": "sma_crossover", "fast_period": 10, "slow_period": 50}',
    )

    @field_validator("params")
    @classmethod
    def _has_kind(cls, value: dict[str, Any]) -> dict[str, Any]:
        kind = value.get("kind")
        if not isinstance(kind, str) or not kind:
            raise ValueError('params must name the strategy kind, e.g. {"kind": "buy_and_hold"}')
        return value


class StrategyRead(ReadModel):
    id: uuid.UUID
    name: str
    version: str
    description: str | None
    params: dict[str, Any]
    created_at: UtcDatetime
