"""Strategy kinds and parameter parsing (``{"kind": ..., ...}`` plus overrides)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationError

from worker.engine.errors import EngineInputError
from worker.engine.params import format_errors
from worker.engine.strategies.base import Strategy
from worker.engine.strategies.buy_and_hold import BuyAndHold
from worker.engine.strategies.crossover import EmaCrossover, SmaCrossover
from worker.engine.strategies.momentum import Momentum
from worker.engine.strategies.oscillators import Bollinger, Breakout, Rsi
from worker.engine.strategies.rule_strategy import Rules

REGISTRY: dict[str, type[Strategy]] = {
    "buy_and_hold": BuyAndHold,
    "sma_crossover": SmaCrossover,
    "ema_crossover": EmaCrossover,
    "rsi": Rsi,
    "bollinger": Bollinger,
    "breakout": Breakout,
    "momentum": Momentum,
    "rules": Rules,
}

#: The discriminated union, for schema generation and other callers.
StrategyParams = Annotated[
    BuyAndHold | SmaCrossover | EmaCrossover | Rsi | Bollinger | Breakout | Momentum | Rules,
    Field(discriminator="kind"),
]


def parse_strategy(params: dict[str, Any], overrides: dict[str, Any] | None = None) -> Strategy:
    """Validate ``strategies.params`` with the run's ``config.params`` merged on top."""
    cls = strategy_class(params, overrides)
    merged = {**params, **(overrides or {})}
    try:
        return cls.model_validate(merged)
    except ValidationError as exc:
        text, items = format_errors(exc)
        raise EngineInputError(
            f"invalid {merged['kind']} parameters: {text}",
            type="invalid_params",
            detail={"errors": items},
        ) from None


def strategy_class(
    params: dict[str, Any], overrides: dict[str, Any] | None = None
) -> type[Strategy]:
    """The class for ``kind`` (overrides may change it); unknown or missing kind raises."""
    if not isinstance(params, dict):
        raise EngineInputError(
            "strategy params must be a JSON object with a 'kind'", type="invalid_params"
        )
    merged = {**params, **(overrides or {})}
    kind = merged.get("kind")
    if kind is None:
        raise EngineInputError(
            f"strategy params need a 'kind'; known kinds: {', '.join(REGISTRY)}",
            type="invalid_params",
            detail={"errors": [{"path": "kind", "message": "is required"}]},
        )
    cls = REGISTRY.get(str(kind))
    if cls is None:
        raise EngineInputError(
            f"unknown strategy kind {kind!r}; known kinds: {', '.join(REGISTRY)}",
            type="unknown_strategy",
            detail={"kind": kind, "known": list(REGISTRY)},
        )
    return cls
