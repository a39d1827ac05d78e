"""The ``rules`` strategy: entry/exit conditions written in the JSON rule language."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import field_validator, model_validator
from pydantic_core import PydanticCustomError

from worker.engine import indicators as ind
from worker.engine import rule_eval, rules
from worker.engine.market import F64, I8, MarketData
from worker.engine.strategies.base import Strategy


def _check(value: Any, kind: rules.Kind = "condition") -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        return rules.validate(value, kind)
    except rules.RuleError as exc:
        raise PydanticCustomError(
            "rule", "{reason}", {"subpath": exc.path, "reason": exc.reason}
        ) from None


class Rules(Strategy):
    """Positions from four conditions: an entry (long xor short) sets the side, an exit of
    the held side makes it flat, otherwise the position is kept. ``entry_long_level`` and
    ``entry_short_level`` (numbers) price the entry orders of ``entry_order`` limit/stop."""

    kind: Literal["rules"] = "rules"
    entry_long: Any = None
    exit_long: Any = None
    entry_short: Any = None
    exit_short: Any = None
    entry_long_level: Any = None
    entry_short_level: Any = None

    @field_validator("entry_long", "exit_long", "entry_short", "exit_short", mode="before")
    @classmethod
    def _rule(cls, value: Any) -> dict[str, Any] | None:
        return _check(value)

    @field_validator("entry_long_level", "entry_short_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> dict[str, Any] | None:
        return _check(value, "number")

    @model_validator(mode="after")
    def _some_entry(self) -> Rules:
        if self.entry_long is None and self.entry_short is None:
            raise ValueError("a rules strategy needs entry_long or entry_short")
        return self

    def signal(self, md: MarketData) -> I8:
        names = ("entry_long", "exit_long", "entry_short", "exit_short")
        nodes = [getattr(self, name) for name in names]
        cols = [
            rule_eval.condition(node, md).holds()
            if node is not None
            else np.zeros(md.n, dtype=np.bool_)
            for node in nodes
        ]
        return ind.hold_with_exits(md, cols[0], cols[1], cols[2], cols[3])

    def entry_levels(self, md: MarketData) -> tuple[F64 | None, F64 | None]:
        nodes = (self.entry_long_level, self.entry_short_level)
        long_level, short_level = (
            None if node is None else rule_eval.number(node, md) for node in nodes
        )
        return long_level, short_level
