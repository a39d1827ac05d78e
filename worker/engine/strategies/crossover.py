"""Moving-average crossovers: long on a strict cross above, short on a strict cross below."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from worker.engine import indicators as ind
from worker.engine.market import F64, I8, MarketData
from worker.engine.strategies.base import Strategy


class _Crossover(Strategy):
    fast_period: int = Field(10, ge=1, le=100_000)
    slow_period: int = Field(30, ge=2, le=100_000)

    @model_validator(mode="after")
    def _order(self) -> _Crossover:
        if self.fast_period >= self.slow_period:
            raise ValueError("fast_period must be less than slow_period")
        return self

    def _average(self, md: MarketData, period: int) -> F64:
        raise NotImplementedError

    def signal(self, md: MarketData) -> I8:
        fast = self._average(md, self.fast_period)
        slow = self._average(md, self.slow_period)
        return ind.cross_hold(md, fast, slow)


class SmaCrossover(_Crossover):
    """Simple moving averages of close. Flat until the first cross (warm-up bars are NaN,
    so the first possible cross is at bar ``slow_period``)."""

    kind: Literal["sma_crossover"] = "sma_crossover"

    def _average(self, md: MarketData, period: int) -> F64:
        return ind.sma(md, period)

    def signal(self, md: MarketData) -> I8:
        return ind.sma_cross_hold(md, self.fast_period, self.slow_period)


class EmaCrossover(_Crossover):
    """Exponential moving averages of close: span semantics (alpha = 2/(period+1)),
    adjust=False, first ``period - 1`` values missing."""

    kind: Literal["ema_crossover"] = "ema_crossover"

    def _average(self, md: MarketData, period: int) -> F64:
        return ind.ema(md, period)
