"""RSI, Bollinger-band mean reversion and Donchian breakout."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from worker.engine import indicators as ind
from worker.engine.market import I8, MarketData
from worker.engine.strategies.base import Strategy


class Rsi(Strategy):
    """Wilder RSI of close: long when RSI < oversold, short when RSI > overbought; the side
    is held until the opposite extreme (flat instead of short in long_only)."""

    kind: Literal["rsi"] = "rsi"
    period: int = Field(14, ge=1, le=100_000)
    oversold: float = Field(30.0, gt=0, lt=100)
    overbought: float = Field(70.0, gt=0, lt=100)

    @model_validator(mode="after")
    def _bands(self) -> Rsi:
        if self.oversold >= self.overbought:
            raise ValueError("oversold must be less than overbought")
        return self

    def signal(self, md: MarketData) -> I8:
        value = ind.rsi(md, self.period)
        return ind.hold(md, value < self.oversold, value > self.overbought)


class Bollinger(Strategy):
    """Mean reversion on bands ``SMA(period) ± num_std · σ`` (population σ of close):
    long when close crosses below the lower band (previous close >= previous lower band,
    now below), short when close crosses above the upper band; held until the opposite
    cross, which also ends the position (flat in long_only)."""

    kind: Literal["bollinger"] = "bollinger"
    period: int = Field(20, ge=2, le=100_000)
    num_std: float = Field(2.0, gt=0, le=10)

    def signal(self, md: MarketData) -> I8:
        mid = ind.sma(md, self.period)
        width = self.num_std * ind.rolling_std(md, self.period)
        close = md.close
        lower, upper = mid - width, mid + width
        prev_close = ind.shift(md, close)
        below = (close < lower) & (prev_close >= ind.shift(md, lower))
        above = (close > upper) & (prev_close <= ind.shift(md, upper))
        return ind.hold(md, below, above)


class Breakout(Strategy):
    """Donchian breakout: long when close > the highest high of the previous ``period``
    bars, short when close < the lowest low of the previous ``period`` bars; held."""

    kind: Literal["breakout"] = "breakout"
    period: int = Field(20, ge=1, le=100_000)

    def signal(self, md: MarketData) -> I8:
        prev_high = ind.shift(md, ind.rolling_max(md, self.period, "high"))
        prev_low = ind.shift(md, ind.rolling_min(md, self.period, "low"))
        return ind.hold(md, md.close > prev_high, md.close < prev_low)
