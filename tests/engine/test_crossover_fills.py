"""crossover_fills gives, bit for bit, the legs and fills ``simulate`` sizes from the SMA
crossover's signal (``build_legs`` and ``size_single``, the references), and so the same
simulation: costs, integer units, both fills, long only, leverage, ruin."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import pytest

from tests.engine.test_property import random_bars
from worker.engine.crossover_fills import crossover_fills
from worker.engine.market import MarketData
from worker.engine.params import parse_run_config
from worker.engine.simulate import simulate, sized_fills
from worker.engine.strategies.crossover import SmaCrossover

CONFIGS: list[dict[str, Any]] = [
    {},
    {"commission": 0.001, "slippage_bps": 3},
    {"commission": 0.002, "commission_fixed": 1.5, "units": "integer"},
    {"fill": "next_open", "direction": "long_only", "units": "integer"},
    {"fill": "close", "commission": 0.0001},
    {"margin_initial": 0.25, "commission": 0.001},
]


def same_arrays(a: object, b: object) -> None:
    for f in fields(a):  # type: ignore[arg-type]
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), f.name
        elif f.name != "legs":
            assert x == y, f.name


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("size", [0.5, 1.0, 3.0])
def test_crossover_fills_are_the_signals_fills(
    config: dict[str, Any], seed: int, size: float
) -> None:
    md = MarketData.from_frame(random_bars(seed, 1, 400, vol=0.08))
    cfg = parse_run_config(config)
    strategy = SmaCrossover(fast_period=3, slow_period=9)
    got = crossover_fills(md, strategy, cfg, capital=10_000.0, size=size)
    assert got is not None
    want = sized_fills(md, strategy.signal(md), cfg, 10_000.0, size)
    same_arrays(got.legs, want.legs)
    same_arrays(got, want)
    fast = simulate(md, None, cfg, capital=10_000.0, size=size, ppy=252.0, fills=got)
    full = simulate(md, strategy.signal(md), cfg, capital=10_000.0, size=size, ppy=252.0)
    assert fast.metrics == full.metrics
    assert fast.curve.equity.tobytes() == full.curve.equity.tobytes()
    assert fast.pnl.tobytes() == full.pnl.tobytes()


def test_other_runs_take_the_signal() -> None:
    md = MarketData.from_frame(random_bars(0, 2, 100))
    strategy = SmaCrossover(fast_period=3, slow_period=9)
    assert crossover_fills(md, strategy, parse_run_config({}), capital=1e4, size=0.5) is None
    one = MarketData.from_frame(random_bars(0, 1, 100))
    stops = parse_run_config({"stop_loss": 0.05})
    assert crossover_fills(one, strategy, stops, capital=1e4, size=1.0) is None
