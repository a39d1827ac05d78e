"""Datasets: a named, content-addressed set of OHLCV bars stored as canonical Parquet."""

from __future__ import annotations

import uuid
from typing import Self

from pydantic import Field, model_validator

from worker.schemas.base import CreateModel, ReadModel
from worker.schemas.types import Sha256Hex, Symbol, Timeframe, UtcDatetime


class DatasetCreate(CreateModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = None
    symbols: list[Symbol] = Field(min_length=1)
    timeframe: Timeframe
    start_date: UtcDatetime
    end_date: UtcDatetime
    row_count: int = Field(gt=0)
    storage_uri: str = Field(min_length=1, description="where the canonical Parquet file lives")
    hash: Sha256Hex

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        if self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols must not repeat")
        return self


class DatasetRead(ReadModel):
    id: uuid.UUID
    name: str
    description: str | None
    symbols: list[str]
    timeframe: str
    start_date: UtcDatetime
    end_date: UtcDatetime
    row_count: int
    storage_uri: str
    hash: str
    created_at: UtcDatetime
