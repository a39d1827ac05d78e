"""Cross-sectional momentum: hold the top_n symbols by trailing return, equally weighted."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field

from worker.engine.market import I8, MarketData
from worker.engine.strategies.base import Strategy


class Momentum(Strategy):
    """On rebalance bars (every ``rebalance_every``-th timestamp of the union timeline,
    starting with the first) rank symbols having a ``lookback``-bar return by that return
    and target +1 for the ``top_n`` best (ties: by symbol name), 0 for the rest; targets
    are held between rebalances. Long-only. Positions are sized at 1/top_n of equity when
    entered; a symbol that stays in the top is not resized."""

    kind: Literal["momentum"] = "momentum"
    family: ClassVar[str] = "cross_sectional"
    lookback: int = Field(20, ge=1, le=100_000)
    top_n: int = Field(1, ge=1)
    rebalance_every: int = Field(20, ge=1)

    def default_position_size(self, n_symbols: int) -> float:
        return 1.0 / max(min(self.top_n, n_symbols), 1)

    def signal(self, md: MarketData) -> I8:
        ret = pl.col("close") / pl.col("close").shift(self.lookback).over("symbol") - 1.0
        frame = md.frame.select(pl.col("symbol"), ret.alias("ret")).with_columns(
            t=pl.Series(md.t_idx), row=pl.Series(np.arange(md.n))
        )
        rebal = frame.filter(
            (pl.col("t") % self.rebalance_every == 0)
            & pl.col("ret").is_not_null()
            & pl.col("ret").is_not_nan()
        )
        ranked = rebal.sort(["t", "ret", "symbol"], descending=[False, True, False]).with_columns(
            rank=pl.int_range(pl.len()).over("t")
        )
        event = np.zeros(md.n, dtype=np.int8)
        on_rebalance = np.zeros(md.n, dtype=np.bool_)
        rows = ranked["row"].to_numpy()
        on_rebalance[rows] = True
        event[rows] = np.where(ranked["rank"].to_numpy() < self.top_n, 1, 0)
        # hold each rebalance decision (including "0") until the symbol's next rebalance row
        marks = on_rebalance | md.block_first()
        idx = np.maximum.accumulate(np.where(marks, np.arange(md.n), 0))
        out: I8 = event[idx]
        return out
