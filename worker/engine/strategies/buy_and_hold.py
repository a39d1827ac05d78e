from __future__ import annotations

from typing import Literal

import numpy as np

from worker.engine.market import I8, MarketData
from worker.engine.strategies.base import Strategy


class BuyAndHold(Strategy):
    """Long every symbol from the first bar's signal to the end."""

    kind: Literal["buy_and_hold"] = "buy_and_hold"

    def signal(self, md: MarketData) -> I8:
        return np.ones(md.n, dtype=np.int8)
