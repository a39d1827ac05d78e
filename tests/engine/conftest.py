from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from worker.engine.bars import canonicalize
from worker.engine.market import MarketData
from worker.engine.params import RunConfig
from worker.engine.simulate import Simulation, simulate

START = datetime(2024, 1, 1, tzinfo=UTC)


def make_bars(
    rows: Sequence[tuple[float, float, float, float]], symbol: str = "X", start: datetime = START
) -> pl.DataFrame:
    """Bars from (open, high, low, close) tuples, one per day."""
    return canonicalize(
        pl.DataFrame(
            {
                "timestamp": [start + timedelta(days=i) for i in range(len(rows))],
                "symbol": [symbol] * len(rows),
                "open": [float(r[0]) for r in rows],
                "high": [float(r[1]) for r in rows],
                "low": [float(r[2]) for r in rows],
                "close": [float(r[3]) for r in rows],
                "volume": [1000.0] * len(rows),
            }
        )
    )


def flat_bars(opens: Sequence[float], closes: Sequence[float]) -> pl.DataFrame:
    """Bars whose high/low just span open and close."""
    return make_bars([(o, max(o, c), min(o, c), c) for o, c in zip(opens, closes, strict=True)])


def sim(
    bars: pl.DataFrame,
    signal: Sequence[int],
    capital: float = 1000.0,
    size: float = 1.0,
    **config: object,
) -> Simulation:
    md = MarketData.from_frame(bars)
    cfg = RunConfig.model_validate(config)
    return simulate(
        md, np.asarray(signal, dtype=np.int8), cfg, capital=capital, size=size, ppy=252.0
    )


@pytest.fixture
def bars4() -> pl.DataFrame:
    return flat_bars([10, 11, 12, 13], [10.5, 11.5, 12.5, 13.5])
