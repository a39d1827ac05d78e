"""Runs: one backtest, and the queue entry that gets it executed."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from pydantic import Field

from worker.db.enums import RunMode, RunStatus
from worker.schemas.base import CreateModel, ReadModel
from worker.schemas.types import BoundedObject, Money, UtcDatetime


class RunCreate(CreateModel):
    """What Node.js (or `backtest-worker enqueue`) inserts. Everything but ids has a default."""

    dataset_id: uuid.UUID
    strategy_id: uuid.UUID
    initial_capital: Money = 10_000.0
    mode: RunMode = RunMode.BACKTEST
    config: BoundedObject = Field(default_factory=dict, description="execution settings")
    priority: int = Field(default=0, ge=-32768, le=32767, description="higher runs first")
    run_after: UtcDatetime | None = Field(default=None, description="not before; now() if omitted")
    max_attempts: int = Field(default=3, ge=1, le=100)


class RunError(ReadModel):
    """Why a run failed: a machine-readable type, a sentence a person can act on, details."""

    type: str
    message: str
    detail: dict[str, Any] = Field(default_factory=dict)


class RunRead(ReadModel):
    id: uuid.UUID
    dataset_id: uuid.UUID
    strategy_id: uuid.UUID
    mode: RunMode
    status: RunStatus
    initial_capital: Decimal
    config: dict[str, Any]
    metadata: dict[str, Any] = Field(validation_alias="run_metadata")
    priority: int
    run_after: UtcDatetime
    attempts: int
    max_attempts: int
    locked_by: str | None
    lease_expires_at: UtcDatetime | None
    cancel_requested: bool
    progress: dict[str, Any] | None
    error: RunError | None
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    final_value: Decimal | None
    total_return: Decimal | None
    sharpe_ratio: Decimal | None
    max_drawdown: Decimal | None
    win_rate: Decimal | None
    total_trades: int | None
    winning_trades: int | None
    losing_trades: int | None
    metrics: dict[str, Any] | None
