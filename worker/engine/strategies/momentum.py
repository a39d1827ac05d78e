"""Cross-sectional momentum: hold the top_n symbols by trailing return, equally weighted."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field

from worker.engine import indicators as ind
from worker.engine.market import I8, MarketData
from worker.engine.strategies.base import Strategy


class Momentum(Strategy):
    """On rebalance timestamps (every ``rebalance_every``-th timestamp of the union
    timeline, starting with the first) rank the symbols that have a bar there and a
    ``lookback``-bar return by that return; target +1 for the ``top_n`` best (ties: by
    symbol name) and 0 for every other symbol, including those without a bar at the
    rebalance. Each row's target is the decision of the latest rebalance at or before it,
    so no rebalance ever wants more than ``top_n`` positions. Long-only. Positions are
    sized at 1/top_n of equity when entered; a symbol that stays in the top is not
    resized."""

    kind: Literal["momentum"] = "momentum"
    family: ClassVar[str] = "cross_sectional"
    lookback: int = Field(20, ge=1, le=100_000)
    top_n: int = Field(1, ge=1)
    rebalance_every: int = Field(20, ge=1)

    def default_position_size(self, n_symbols: int) -> float:
        return 1.0 / max(min(self.top_n, n_symbols), 1)

    def signal(self, md: MarketData) -> I8:
        frame = md.frame.select(pl.col("symbol")).with_columns(
            ret=pl.Series(ind.pct_return(md, self.lookback)),
            t=pl.Series(md.t_idx),
            sym=pl.Series(md.sym),
        )
        rebal = frame.filter(
            (pl.col("t") % self.rebalance_every == 0)
            & pl.col("ret").is_not_null()
            & pl.col("ret").is_not_nan()
        )
        ranked = rebal.sort(["t", "ret", "symbol"], descending=[False, True, False]).with_columns(
            rank=pl.int_range(pl.len()).over("t")
        )
        chosen = ranked.filter(pl.col("rank") < self.top_n)
        # wanted[k, s]: symbol s is in the top at the k-th rebalance of the timeline
        wanted = np.zeros((md.n_times // self.rebalance_every + 1, md.n_symbols), dtype=np.int8)
        wanted[chosen["t"].to_numpy() // self.rebalance_every, chosen["sym"].to_numpy()] = 1
        out: I8 = wanted[md.t_idx // self.rebalance_every, md.sym]
        return out
