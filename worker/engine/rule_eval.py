"""Evaluate validated rule expressions (worker.engine.rules) on MarketData.

Numbers are float arrays with NaN for missing (warm-up, division by zero, any other
non-finite result); indicators are the kernels of worker.engine.indicators, the same the
built-in strategies use, so a rule and a built-in with the same indicator see identical
values. Conditions are Kleene three-valued: a ``Condition`` holds where it is ``true`` and
is unknown where not ``known`` (a comparison with a missing value), which ``and``/``or``
combine as SQL does; an unknown condition finally counts as false, so the negation of a
comparison with a missing value is false too. Nothing is evaluated as code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from worker.engine import indicators as ind
from worker.engine.market import F64, B, MarketData

_KERNELS: dict[str, Callable[[MarketData, F64, int], F64]] = {
    "sma": ind.sma_of,
    "ema": ind.ema_of,
    "rsi": ind.rsi_of,
    "rolling_high": ind.rolling_max_of,
    "rolling_low": ind.rolling_min_of,
    "returns": ind.returns_of,
}
_CACHED: dict[str, Callable[[MarketData, int, str], F64]] = {
    "sma": ind.sma,
    "ema": ind.ema,
    "rsi": ind.rsi,
    "rolling_high": ind.rolling_max,
    "rolling_low": ind.rolling_min,
    "returns": ind.pct_return,
}
_PRICE_COLUMNS = ("open", "high", "low", "close")


@dataclass(frozen=True, eq=False)
class Condition:
    true: B
    known: B

    def holds(self) -> B:
        out: B = self.true & self.known
        return out


def _finite(x: F64) -> F64:
    x[~np.isfinite(x)] = np.nan
    return x


def number(node: dict[str, Any], md: MarketData) -> F64:
    """A validated number node as a float array (NaN where missing)."""
    op = node["op"]
    if op == "const":
        return np.full(md.n, node["value"])
    if op == "price":
        field = node["field"]
        if field in _PRICE_COLUMNS:
            out: F64 = ind.source(md, field)
            return out
        column: F64 = md.frame[field].to_numpy().astype(np.float64)
        return column
    if op == "atr":
        return ind.atr(md, int(node["period"]))
    if op in _KERNELS:
        of, period = node["of"], int(node["period"])
        if of["op"] == "price" and of["field"] in _PRICE_COLUMNS:
            return _CACHED[op](md, period, of["field"])  # shared with the built-ins
        return _KERNELS[op](md, number(of, md), period)
    a, b = (number(arg, md) for arg in node["args"])
    with np.errstate(all="ignore"):
        if op == "add":
            return _finite(a + b)
        if op == "sub":
            return _finite(a - b)
        if op == "mul":
            return _finite(a * b)
        return _finite(a / b)


def condition(node: dict[str, Any], md: MarketData) -> Condition:
    """A validated condition node as a three-valued ``Condition``."""
    op = node["op"]
    if op in ("and", "or"):
        parts = [condition(arg, md) for arg in node["args"]]
        known = np.logical_and.reduce([p.known for p in parts])
        if op == "and":
            true = np.logical_and.reduce([p.true | ~p.known for p in parts]) & known
            decided_false = np.logical_or.reduce([~p.true & p.known for p in parts])
            return Condition(true, known | decided_false)
        true = np.logical_or.reduce([p.holds() for p in parts])
        return Condition(true, known | true)
    if op == "not":
        inner = condition(node["args"][0], md)
        return Condition(~inner.true & inner.known, inner.known)
    a, b = (number(arg, md) for arg in node["args"])
    known = ~(np.isnan(a) | np.isnan(b))
    if op == "gt":
        return Condition(a > b, known)
    if op == "lt":
        return Condition(a < b, known)
    if op == "ge":
        return Condition(a >= b, known)
    if op == "le":
        return Condition(a <= b, known)
    above, below = ind.crosses(md, a, b)  # strict: previous a < b, now a > b (resp.)
    true = above if op == "crosses_above" else below
    prev_known = np.zeros(md.n, dtype=np.bool_)
    prev_known[1:] = known[:-1]
    prev_known[md.starts] = False
    return Condition(true, known & prev_known)
