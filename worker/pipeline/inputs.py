"""A run's inputs, read and validated once before any bar is loaded.

The run row's `config` holds two kinds of keys: the engine's (fill, commission, grid, …,
validated by `worker.engine.api.parse_run`) and the worker's own (`RunOptions`: what to
write, how to label it, how long it may take). Both are checked here, with the strategy's
parameters and the symbols the config asks for, so a bad run fails before it costs a read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from worker.bounds import MAX_INPUT_BYTES, MAX_INPUT_DEPTH, InputTooLarge, loads_input
from worker.engine.api import RunSpec, parse_run
from worker.engine.errors import EngineInputError
from worker.engine.params import WORKER_CONFIG_KEYS, format_errors
from worker.pipeline.sql import load
from worker.queue.handler import PermanentRunError, RunJob
from worker.results.catalogue import ARTIFACT_NAMES, DEFAULT_ARTIFACTS
from worker.schemas import RunCreate

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class RunOptions(BaseModel):
    """The worker's keys of `runs.config` (docs/contract.md); the engine ignores them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    timeout_seconds: float | None = Field(None, gt=0, description="overrides RUN_TIMEOUT")
    artifacts: tuple[str, ...] | None = Field(
        None, max_length=32, description="artifact names to write; default: the defaults"
    )
    label: str | None = Field(None, max_length=200, description="a title for the report")
    notes: str | None = Field(None, max_length=10_000, description="free text for the report")
    tags: tuple[Tag, ...] = Field((), max_length=32)

    @field_validator("artifacts")
    @classmethod
    def _known(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        unknown = sorted(set(value or ()) - ARTIFACT_NAMES)
        if unknown:
            raise ValueError(
                f"unknown artifact(s) {', '.join(unknown)}; use any of"
                f" {', '.join(sorted(ARTIFACT_NAMES))}"
            )
        return value

    @property
    def artifact_selection(self) -> frozenset[str]:
        return DEFAULT_ARTIFACTS if self.artifacts is None else frozenset(self.artifacts)


@dataclass(frozen=True)
class RunInputs:
    job: RunJob
    spec: RunSpec
    options: RunOptions
    dataset_name: str
    dataset_hash: str
    storage_uri: str
    timeframe: str
    dataset_symbols: tuple[str, ...]
    strategy_name: str
    strategy_version: str
    parent_id: uuid.UUID | None = None  # the sweep, for a sweep's child


async def read_inputs(db: asyncpg.Pool, job: RunJob) -> RunInputs:
    row = await db.fetchrow(load("run_inputs"), job.id)
    if row is None:
        raise PermanentRunError("run_missing", f"run {job.id} has no dataset or strategy row")
    return validate_inputs(job, dict(row))


def validate_inputs(job: RunJob, row: dict[str, Any]) -> RunInputs:
    """The run's inputs from its row and its dataset's and strategy's rows (pure)."""
    options = _options(job.config)
    try:
        spec = parse_run(
            _as_dict(row["strategy_params"]),
            job.config,
            initial_capital=float(job.initial_capital),
        )
    except EngineInputError as error:
        raise PermanentRunError(error.type, error.message, error.detail) from None
    available = tuple(row["symbols"] or ())
    asked = spec.config.symbols
    unknown = [s for s in asked or () if s not in available]
    if unknown:
        raise PermanentRunError(
            "unknown_symbol",
            f"unknown symbol(s) {', '.join(unknown)}; the dataset has "
            f"{', '.join(sorted(available)[:20])}{' …' if len(available) > 20 else ''}",
            {"unknown": unknown, "available": sorted(available)},
        )
    return RunInputs(
        job=job,
        spec=spec,
        options=options,
        dataset_name=row["dataset_name"],
        dataset_hash=row["dataset_hash"],
        storage_uri=row["storage_uri"],
        timeframe=row["timeframe"],
        dataset_symbols=available,
        strategy_name=row["strategy_name"],
        strategy_version=row["strategy_version"],
        parent_id=row.get("parent_id"),
    )


def validate_request(spec: RunCreate, row: dict[str, Any]) -> RunInputs:
    """`validate_inputs` for a run not yet inserted (`POST /runs`, `backtest-worker enqueue`),
    with its dataset's and strategy's rows: what a worker would refuse is refused before."""
    job = RunJob(
        id=uuid.uuid4(),
        dataset_id=spec.dataset_id,
        strategy_id=spec.strategy_id,
        mode=spec.mode.value,
        initial_capital=Decimal(str(spec.initial_capital)),
        config=spec.config,
        attempt=0,
        max_attempts=spec.max_attempts,
        worker_id="enqueue",
    )
    return validate_inputs(job, row)


def _options(config: dict[str, Any]) -> RunOptions:
    try:
        return RunOptions.model_validate({k: config[k] for k in WORKER_CONFIG_KEYS if k in config})
    except ValidationError as error:
        text, items = format_errors(error)
        raise PermanentRunError(
            "invalid_config", f"invalid run config: {text}", {"errors": items}
        ) from None


def _as_dict(value: Any) -> dict[str, Any]:
    try:
        loaded = loads_input(value, "strategies.params") if isinstance(value, str) else value
    except InputTooLarge as error:
        raise PermanentRunError(
            "invalid_params",
            f"the strategy's params cannot be accepted: {error}",
            {"max_bytes": MAX_INPUT_BYTES, "max_depth": MAX_INPUT_DEPTH},
        ) from None
    if not isinstance(loaded, dict):
        raise PermanentRunError("invalid_params", "strategies.params must be a JSON object")
    return loaded
