"""The result frames equal those of the plain construction they replaced, and the blocked
drawdown kernel equals numpy across its blocks."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.test_property import random_bars
from worker.engine import curve_kernels as ck
from worker.engine import drawdowns as dd
from worker.engine.curve_kernels import PEAK_BLOCK
from worker.engine.drawdowns import drawdown_curve
from worker.engine.execution import EXIT_REASONS
from worker.engine.frames import equity_frame, trades_frame, utc_timestamps
from worker.engine.market import MarketData
from worker.engine.params import RunConfig
from worker.engine.simulate import Simulation, simulate


def old_utc(values: np.ndarray) -> pl.Series:
    """``frames.utc_timestamps`` before: an Int64 series cast to Datetime."""
    return pl.Series(values.astype(np.int64, copy=False)).cast(pl.Datetime("us", "UTC"))


def test_utc_timestamps_equal_the_cast_without_a_copy() -> None:
    values = np.array([0, 1, -1, 1_700_000_000_000_000, -(2**40), 2**52], dtype=np.int64)
    got = utc_timestamps(values)
    want = old_utc(values)
    assert got.dtype == want.dtype and got.name == want.name and got.equals(want)
    values[0] = 7  # the series is a view of the array
    assert got.to_physical()[0] == 7


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
            "entry_time": old_utc(md.ts[entry_row]),
            "entry_price": legs.entry_price[done],
            "exit_time": old_utc(md.grid_ts[legs.exit_t[done]]),
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


def reference_equity(md: MarketData, sim: Simulation) -> pl.DataFrame:
    """``frames.equity_frame`` as it was built before (engine 1.5.1): the exposure and the
    drawdown each in its own pass."""
    curve = sim.curve
    equity = curve.equity
    exposure = np.empty(equity.shape[0])
    absolute = curve.gross is None
    value = curve.position_value if curve.gross is None else curve.gross
    positive = ck.exposure_ratio(
        np.ascontiguousarray(value), np.ascontiguousarray(equity), absolute, exposure
    )
    frame = pl.DataFrame(
        {
            "timestamp": old_utc(md.grid_ts),
            "equity": equity,
            "cash": curve.cash,
            "position_value": curve.position_value,
            "exposure": exposure,
            "drawdown": drawdown_curve(equity, sim.capital),
        }
    )
    if equity.shape[0] and positive:
        return frame
    return frame.with_columns(pl.when(pl.col("equity") > 0).then(pl.col("exposure")))


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
    got, want = equity_frame(md, sim), reference_equity(md, sim)
    assert got.schema == want.schema and got.equals(want, null_equal=True)
    assert str(got.to_dicts()) == str(want.to_dicts())  # NaN in the same places


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


@pytest.mark.parametrize("n", [0, 1, 7, PEAK_BLOCK + 1, 3 * PEAK_BLOCK + 5])
@pytest.mark.parametrize("absolute", [True, False])
@pytest.mark.parametrize("nan_at", [None, 0, PEAK_BLOCK, -1])
def test_exposure_drawdown_is_both_kernels(n: int, absolute: bool, nan_at: int | None) -> None:
    rng = np.random.default_rng(n)
    equity = 100.0 + np.cumsum(rng.normal(0, 5.0, n))  # goes below zero
    value = rng.normal(0, 100.0, n)
    if n:
        value[0] = -0.0
        equity[n // 2] = 0.0  # a division by zero
    if nan_at is not None and n > abs(nan_at) and n > PEAK_BLOCK:
        equity[nan_at] = np.nan
    for initial in (50.0, 1e9):
        exposure, drawdown = np.empty(n), np.empty(n)
        whole, positive = ck.exposure_drawdown(value, equity, initial, absolute, exposure, drawdown)
        want_dd = np.empty(n)
        assert whole == ck.drawdown_from_peak(equity, initial, want_dd)
        if not whole:
            continue
        want_exposure = np.empty(n)
        assert positive == ck.exposure_ratio(value, equity, absolute, want_exposure)
        assert np.array_equal(drawdown, want_dd, equal_nan=True)
        assert np.array_equal(exposure, want_exposure, equal_nan=True)
        assert np.signbit(exposure).tolist() == np.signbit(want_exposure).tolist()
