"""The result frames equal those of the plain construction they replaced, and the blocked
drawdown kernel equals numpy across its blocks."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.test_property import random_bars
from worker.engine import drawdowns as dd
from worker.engine.curve_kernels import PEAK_BLOCK
from worker.engine.execution import EXIT_REASONS
from worker.engine.frames import trades_frame, utc_timestamps
from worker.engine.market import MarketData
from worker.engine.params import RunConfig
from worker.engine.simulate import Simulation, simulate


def reference_trades(md: MarketData, sim: Simulation) -> pl.DataFrame:
    """``frames.trades_frame`` as it was built before (engine 1.5.1): masked copies and a
    gather of every string column."""
    legs, fills = sim.legs, sim.fills
    done = fills.units > 0
    entry_row, exit_row = legs.entry_row[done], legs.exit_row[done]
    side = legs.side[done]
    symbols = pl.Series(md.symbols, dtype=pl.String)
    reasons = pl.Series(EXIT_REASONS, dtype=pl.String)
    frame = pl.DataFrame(
        {
            "symbol": symbols.gather(legs.sym[done]),
            "side": pl.Series(["short", "long"], dtype=pl.String).gather(
                (side > 0).astype(np.int64)
            ),
            "entry_time": utc_timestamps(md.ts[entry_row]),
            "entry_price": legs.entry_price[done],
            "exit_time": utc_timestamps(md.grid_ts[legs.exit_t[done]]),
            "exit_price": legs.exit_price[done],
            "units": fills.units[done],
            "fees": fills.fees[done],
            "pnl": sim.pnl,
            "return": sim.trade_returns,
            "exit_reason": reasons.gather(legs.reason[done].astype(np.int64)),
            "bars_held": (exit_row - entry_row).astype(np.int64),
        }
    )
    if md.n_symbols > 1:
        frame = frame.sort("entry_time", "symbol", maintain_order=True)
    return frame


CONFIGS = [
    {},
    {"units": "integer"},  # small capital: some entries get no unit (masked out)
    {"stop_loss": 0.02, "take_profit": 0.03, "fill": "close"},
    {"margin_initial": 0.34, "margin_maintenance": 0.3},  # margin calls
]


@settings(max_examples=120, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_symbols=st.integers(1, 3),
    n=st.integers(1, 60),
    config=st.sampled_from(CONFIGS),
)
def test_trades_frame_equals_the_reference(
    seed: int, n_symbols: int, n: int, config: dict[str, object]
) -> None:
    md = MarketData.from_frame(random_bars(seed, n_symbols, n, vol=0.1))
    signal = np.random.default_rng(seed).integers(-1, 2, md.n).astype(np.int8)
    cfg = RunConfig.model_validate(config)
    size = 2.5 if "margin_initial" in config else 1.0
    sim = simulate(md, signal, cfg, capital=150.0, size=size / n_symbols, ppy=252.0)
    got, want = trades_frame(md, sim), reference_trades(md, sim)
    assert got.schema == want.schema and got.equals(want)
    assert got.to_dicts() == want.to_dicts()


def test_trades_frame_with_a_masked_fill() -> None:
    md = MarketData.from_frame(random_bars(0, 2, 40, vol=0.1))
    signal = np.tile(np.array([1, 1, -1, -1, 0], dtype=np.int8), md.n // 5 + 1)[: md.n]
    sim = simulate(md, signal, RunConfig(units="integer"), capital=250.0, size=0.5, ppy=252.0)
    assert (sim.fills.units == 0).any() and (sim.fills.units > 0).any()
    assert trades_frame(md, sim).equals(reference_trades(md, sim))


@pytest.mark.parametrize("shape", ["rising", "falling", "wave"])
@pytest.mark.parametrize("n", [PEAK_BLOCK - 1, PEAK_BLOCK, PEAK_BLOCK + 1, 5 * PEAK_BLOCK + 3])
def test_drawdown_curve_across_blocks(shape: str, n: int) -> None:
    x = np.arange(n, dtype=np.float64)
    equity = {"rising": 100.0 + x, "falling": 100.0 - x * 1e-3, "wave": 100 + np.sin(x / 300)}
    curve = equity[shape]
    for initial in (50.0, 100.0, 1e9):
        want = dd.peak_ratio(curve, initial) - 1.0
        assert np.array_equal(dd.drawdown_curve(curve, initial), want)
    for at in (0, PEAK_BLOCK - 1, PEAK_BLOCK, n - 1):
        if at < n:
            broken = curve.copy()
            broken[at] = np.nan
            want = dd._scanned_peak_ratio(broken, 100.0) - 1.0
            assert np.array_equal(dd.drawdown_curve(broken, 100.0), want, equal_nan=True)
