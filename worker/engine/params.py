"""Run configuration (the run's ``config`` JSON) and pydantic error formatting."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from worker.engine.errors import EngineInputError
from worker.engine.metrics import METRIC_NAMES

#: Keys of ``runs.config`` that belong to the worker, not the engine (validated by
#: ``worker.pipeline.inputs.RunOptions``): the engine drops them. Any other unknown key is
#: rejected.
WORKER_CONFIG_KEYS = frozenset({"timeout_seconds", "artifacts", "tags", "label", "notes"})


#: A walk-forward window as a duration: a count and a unit (minutes, hours, days, weeks,
#: calendar months, calendar years), e.g. "90d", "6mo".
DURATION = re.compile(r"^([1-9][0-9]{0,5})(min|h|d|w|mo|y)$")
WINDOW_HELP = "a bar count (e.g. 500) or a duration such as '90d', '12w', '6mo', '2y', '30min'"


class WalkForwardConfig(BaseModel):
    """Rolling (or anchored) train/test windows; ``step`` defaults to ``test``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train: int | str
    test: int | str
    step: int | str | None = None
    anchored: bool = False

    @field_validator("train", "test", "step", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"must be {WINDOW_HELP}")
        if isinstance(value, int) and value < 1:
            raise ValueError(f"must be a positive bar count, got {value}")
        if isinstance(value, str) and not DURATION.match(value.strip()):
            raise ValueError(f"{value!r} is not {WINDOW_HELP}")
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _kinds(self) -> WalkForwardConfig:
        windows = [w for w in (self.train, self.test, self.step) if w is not None]
        if len({isinstance(w, int) for w in windows}) > 1:
            raise ValueError("train, test and step must all be bar counts or all durations")
        if isinstance(self.train, int) and self.train < 2:
            raise ValueError("train must hold at least 2 bars")
        if isinstance(self.step, int) and isinstance(self.test, int) and self.step < self.test:
            raise ValueError("step must be at least test (test windows must not overlap)")
        return self

    @property
    def step_window(self) -> int | str:
        return self.test if self.step is None else self.step


#: Most combinations one child of a sweep may hold (its config carries them as a list).
MAX_CHUNK_SIZE = 2_000


class SweepConfig(BaseModel):
    """``sweep``: the grid is fanned out to child runs of about ``chunk_size`` combinations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk_size: int = Field(..., ge=1, le=MAX_CHUNK_SIZE)


#: Most time ranges a swept walk-forward's child may carry (its out-of-sample window has
#: one per test window when ``step`` leaves gaps between them).
MAX_WINDOW_RANGES = 10_000


class SweepWindow(BaseModel):
    """``sweep_chunk.window``: the bars a walk-forward sweep's child evaluates its chunk on:
    those in one of ``ranges`` (``[start, end)`` pairs, ascending, disjoint), fold ``fold``'s
    train window, or with ``fold`` null the out-of-sample span (for the in-sample optimum)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fold: int | None = Field(..., ge=1)
    ranges: list[tuple[datetime, datetime]] = Field(..., min_length=1, max_length=MAX_WINDOW_RANGES)

    @field_validator("ranges")
    @classmethod
    def _ordered(cls, value: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
        out = [(_as_utc(lo), _as_utc(hi)) for lo, hi in value]
        previous_end: datetime | None = None
        for lo, hi in out:
            if lo >= hi:
                raise ValueError("each range must start before it ends")
            if previous_end is not None and lo < previous_end:
                raise ValueError("ranges must be ascending and must not overlap")
            previous_end = hi
        return out


class SweepChunk(BaseModel):
    """``sweep_chunk``: set by the worker on a sweep's child, never by a user: the child
    evaluates these combinations of the grid (chunk ``index``, in the grid's order), on the
    run's window or, for a walk-forward sweep, on ``window``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(..., ge=0)
    combinations: list[dict[str, Any]] = Field(..., min_length=1, max_length=MAX_CHUNK_SIZE)
    window: SweepWindow | None = None


class TrailingAtr(BaseModel):
    """A trailing stop ``multiple`` ATRs (Wilder, ``period`` bars) from the best price."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period: int = Field(14, ge=1, le=100_000)
    multiple: float = Field(3.0, gt=0, le=100)


class RunConfig(BaseModel):
    """Execution settings; every field optional with the default shown in docs/engine.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fill: Literal["next_open", "close"] = "next_open"
    commission: float = Field(0.0, ge=0, lt=1, description="fraction of traded value per fill")
    commission_fixed: float = Field(0.0, ge=0, description="currency per fill")
    slippage_bps: float = Field(0.0, ge=0, lt=10_000)
    direction: Literal["long_short", "long_only"] = "long_short"
    position_size: float | None = Field(
        None, gt=0, le=100, description="fraction of equity per position; default 1/n_symbols"
    )
    margin_initial: float = Field(
        1.0, gt=0, le=1, description="fraction of an entry's value that free equity must cover"
    )
    margin_maintenance: float | None = Field(
        None, gt=0, le=1, description="margin call when equity < this x gross position value"
    )
    cash_interest_rate: float = Field(
        0.0, ge=0, le=10, description="annual interest on a negative cash balance (Actual/365)"
    )
    borrow_rate: float = Field(
        0.0, ge=0, le=10, description="annual fee on the value of short positions (Actual/365)"
    )
    funding_rate: float = Field(
        0.0, ge=-10, le=10, description="annual funding on signed position value: longs pay"
    )
    max_volume_share: float | None = Field(
        None, gt=0, le=1, description="an entry fills at most this fraction of its bar's volume"
    )
    units: Literal["integer", "fractional"] = "integer"
    stop_loss: float | None = Field(None, gt=0, lt=1)
    trailing_atr: TrailingAtr | None = None
    take_profit: float | None = Field(None, gt=0)
    entry_order: Literal["market", "limit", "stop"] = "market"
    entry_offset: float = Field(
        0.0, ge=0, lt=1, description="order level: fraction from the signal bar's close"
    )
    entry_valid_bars: int = Field(1, ge=1, le=100_000, description="an order's life in bars")
    trailing_stop: float | None = Field(
        None, gt=0, lt=1, description="fraction from the best price since entry"
    )
    start: datetime | None = None
    end: datetime | None = None
    symbols: list[str] | None = Field(None, min_length=1)
    periods_per_year: float | None = Field(None, gt=0)
    calendar: Literal["equity", "crypto"] = "equity"
    risk_free_rate: float = Field(
        0.0, gt=-1, lt=1, description="annual rate the Sharpe and Sortino ratios are net of"
    )
    benchmark: str | None = Field(
        None, min_length=1, description="a dataset symbol to measure against; default buy-and-hold"
    )
    params: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] | None = None
    grid_metric: str = "sharpe_ratio"
    max_combinations: int = Field(100_000, ge=1)
    walk_forward: WalkForwardConfig | None = None
    pbo_partitions: int = Field(
        16, ge=2, le=16, description="CSCV partitions for a grid's PBO (even)"
    )
    sweep: SweepConfig | None = None
    sweep_chunk: SweepChunk | None = None

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _as_utc(value)

    @field_validator("symbols")
    @classmethod
    def _upper(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out = [s.strip().upper() for s in value]
        if any(not s for s in out):
            raise ValueError("symbols must be non-empty strings")
        return sorted(set(out))

    @field_validator("benchmark")
    @classmethod
    def _benchmark(cls, value: str | None) -> str | None:
        if value is None:
            return None
        out = value.strip().upper()
        if not out:
            raise ValueError("benchmark must be a non-empty symbol")
        return out

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("grid must name at least one parameter")
        for name, values in value.items():
            if not values:
                raise ValueError(f"grid.{name} must list at least one value")
        return value

    @field_validator("grid_metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        names = [m for m in METRIC_NAMES if m != "ruin_time"]  # text: nothing to rank by
        if value not in names:
            raise ValueError(f"unknown metric {value!r}; use one of {', '.join(names)}")
        return value

    @field_validator("pbo_partitions")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("pbo_partitions must be even")
        return value

    @model_validator(mode="after")
    def _window(self) -> RunConfig:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError("start must not be after end")
        if self.walk_forward is not None and not self.grid:
            raise ValueError("walk_forward needs a grid to optimise on each train window")
        if (self.sweep is not None or self.sweep_chunk is not None) and not self.grid:
            raise ValueError("sweep needs a grid to fan out")
        if self.sweep_chunk is not None and self.walk_forward is not None:
            raise ValueError(
                "sweep_chunk is one window of a walk-forward sweep's grid; walk_forward "
                "belongs to the sweep itself"
            )
        if self.sweep is not None and self.sweep_chunk is not None:
            raise ValueError("sweep_chunk is set by the worker on a sweep's children only")
        if self.position_size is not None and self.position_size * self.margin_initial > 1 + 1e-12:
            raise ValueError(
                f"position_size {self.position_size:g} needs leverage: at margin_initial "
                f"{self.margin_initial:g} a position can be at most "
                f"{1 / self.margin_initial:g} x equity; set margin_initial to "
                f"{1 / self.position_size:.4g} or less (e.g. 0.5 for 2:1)"
            )
        if self.margin_maintenance is not None and self.margin_maintenance > self.margin_initial:
            raise ValueError("margin_maintenance must not exceed margin_initial")
        if self.trailing_stop is not None and self.trailing_atr is not None:
            raise ValueError("set trailing_stop (a fraction) or trailing_atr, not both")
        if self.entry_order == "market" and (self.entry_offset or self.entry_valid_bars != 1):
            raise ValueError("entry_offset and entry_valid_bars need entry_order 'limit' or 'stop'")
        return self

    @property
    def slippage(self) -> float:
        return self.slippage_bps / 10_000.0


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def format_errors(exc: ValidationError, prefix: str = "") -> tuple[str, list[dict[str, Any]]]:
    """A readable one-line message plus a JSON-safe error list with JSON paths."""
    items: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False, include_input=False):
        path = _loc(tuple(err["loc"]))
        ctx = err.get("ctx") or {}
        sub = ctx.get("subpath", "") if isinstance(ctx, dict) else ""
        if sub:
            path = f"{path}{sub}" if path else sub.lstrip(".")
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        items.append({"path": path, "message": msg, "type": err["type"]})
    text = "; ".join(f"{i['path']}: {i['message']}" if i["path"] else i["message"] for i in items)
    return text, items


def parse_run_config(config: dict[str, Any] | None) -> RunConfig:
    """Validate ``runs.config``; worker-owned keys (``WORKER_CONFIG_KEYS``) are dropped."""
    raw = {k: v for k, v in (config or {}).items() if k not in WORKER_CONFIG_KEYS}
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        text, items = format_errors(exc)
        raise EngineInputError(
            f"invalid run config: {text}", type="invalid_config", detail={"errors": items}
        ) from None
