"""Common base of strategy parameter models: validated data with a vectorised signal."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from worker.engine.market import F64, I8, MarketData


class Strategy(BaseModel):
    """A strategy is its parameters; ``signal`` maps bars to a target position per row
    (-1 short, 0 flat, +1 long), held until it changes. Nothing here runs user code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: ClassVar[str] = "single"

    def signal(self, md: MarketData) -> I8:
        raise NotImplementedError

    def entry_levels(self, md: MarketData) -> tuple[F64 | None, F64 | None]:
        """Per row, the level of a long and of a short limit/stop entry order placed on
        that row's close (NaN: no order); None for a side: the config's ``entry_offset``
        rule (worker/engine/orders.py). Only ``rules`` strategies set levels."""
        return None, None

    def default_position_size(self, n_symbols: int) -> float:
        """Fraction of equity per position when the config gives none: equal weights."""
        return 1.0 / max(n_symbols, 1)
