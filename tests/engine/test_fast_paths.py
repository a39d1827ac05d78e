"""Grid fast paths give exactly the numbers of a full single run."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine.test_property import configs, random_bars, random_signal, with_margin
from worker.engine import curve_stats as cs
from worker.engine import equity_stats as es
from worker.engine.market import MarketData
from worker.engine.metrics import compute_all
from worker.engine.params import RunConfig
from worker.engine.portfolio import exposure
from worker.engine.return_metrics import returns_from_equity
from worker.engine.simulate import simulate, simulate_metrics

#: Metrics of the equity curve (a ruined run's are of its wiped path).
EQUITY_KEYS = {
    "total_return", "sharpe_ratio", "max_drawdown", "final_value", "cagr", "volatility",
    "sortino_ratio", "calmar_ratio", "max_drawdown_duration_bars", "bars",
}  # fmt: skip
#: Set by simulate beside compute_all.
ACCOUNT_KEYS = {
    "ruined", "ruin_bar", "ruin_time", "margin_calls",
    "carry_paid", "interest_paid", "borrow_paid", "funding_paid",
}  # fmt: skip


def same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == b[key] or (a[key] is None and b[key] is None), key


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    n_symbols=st.integers(1, 3),
    n=st.integers(1, 60),
    config=configs,
    size=st.sampled_from([0.3, 1.0, 1.5, 4.0]),
    block=st.sampled_from([1, 2, 3, 7, 64]),
)
def test_simulate_metrics_equal_simulate(
    seed: int, n_symbols: int, n: int, config: dict[str, Any], size: float, block: int
) -> None:
    bars = random_bars(seed, n_symbols, n)
    signal = random_signal(seed, bars.height)
    md = MarketData.from_frame(bars)
    cfg = RunConfig.model_validate(with_margin(config, size))
    # both paths sum in the same blocks: the curve pass reads its own copy of the size
    old = es.STATS_BLOCK
    es.STATS_BLOCK = cs.STATS_BLOCK = block
    try:
        full = simulate(md, signal, cfg, capital=10_000.0, size=size, ppy=252.0)
        fast = simulate_metrics(md, signal, cfg, capital=10_000.0, size=size, ppy=252.0)
    finally:
        es.STATS_BLOCK = cs.STATS_BLOCK = old
    same(full.metrics, fast)
    # the returns kept for the analysis are the curve's; none are kept after a ruin, when
    # the curve's pass kept only their mean, or when the margin check rebuilt the curve that
    # pass had summed (the analysis then builds them from the equity)
    equity = full.curve.equity
    derived = full.curve.derived
    if derived is not None:
        mean = float(returns_from_equity(equity, 10_000.0).mean())
        assert full.returns is None and repr(derived.returns_mean) == repr(mean)
    if full.metrics["ruined"]:
        assert full.returns is None
    if full.returns is not None:
        assert full.returns.tobytes() == returns_from_equity(equity, 10_000.0).tobytes()
    # and the blockwise statistics agree with whole-array numpy
    whole = es._array_stats(equity, 10_000.0, 0.0)
    es.STATS_BLOCK = block
    try:
        blocks = es.equity_stats(es.array_block(equity), equity.shape[0], 10_000.0)
    finally:
        es.STATS_BLOCK = old
    assert blocks.underwater == whole.underwater
    assert blocks.min_ratio == whole.min_ratio
    assert blocks.final == whole.final
    assert math.isclose(blocks.total, whole.total, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(blocks.squares, whole.squares, rel_tol=1e-9, abs_tol=1e-15)
    assert math.isclose(blocks.down, whole.down, rel_tol=1e-9, abs_tol=1e-15)


@pytest.mark.parametrize("block", [1, 3, 5, 1000])
def test_equity_stats_edge_curves(block: int) -> None:
    old = es.STATS_BLOCK
    es.STATS_BLOCK = block
    try:
        curves = [
            np.array([100.0]),
            np.array([100.0, 100.0, 100.0]),  # flat at the initial peak
            np.array([90.0, 95.0, 100.0, 99.0, 100.0, 80.0, 120.0, 60.0]),
            np.array([110.0, 105.0, 110.0, 110.0, 90.0]),
            np.array([50.0, 0.0, -10.0, 20.0]),  # wiped out and negative
            np.array([100.0, np.inf, 100.0]),
            np.array([100.0, np.nan, 100.0, 90.0]),
        ]
        for curve in curves:
            got = es.equity_stats(es.array_block(curve), curve.shape[0], 100.0)
            kept = np.full(curve.shape[0], 7.0)
            with_returns = es.equity_stats(
                es.array_block(curve), curve.shape[0], 100.0, returns=kept
            )
            assert repr(with_returns) == repr(got)
            assert kept.tobytes() == returns_from_equity(curve, 100.0).tobytes()
            want = es._array_stats(curve, 100.0, 0.0)
            assert got.underwater == want.underwater
            assert got.final == want.final
            assert got.min_ratio == want.min_ratio or (
                math.isnan(got.min_ratio) and math.isnan(want.min_ratio)
            )
            for name in ("total", "squares", "down"):
                a, b = getattr(got, name), getattr(want, name)
                assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12)
    finally:
        es.STATS_BLOCK = old


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 80),
    config=configs,
    size=st.sampled_from([0.3, 1.0, 1.5, 4.0]),
)
def test_single_symbol_metrics_equal_compute_all(
    seed: int, n: int, config: dict[str, Any], size: float
) -> None:
    """One symbol's trade metrics come from grid_kernel.trade_pass: the numbers of
    ``metrics.compute_all`` on the executed legs (the reference), after any liquidation."""
    bars = random_bars(seed, 1, n, vol=0.15)
    md = MarketData.from_frame(bars)
    cfg = RunConfig.model_validate(with_margin(config, size))
    sim = simulate(
        md, random_signal(seed, bars.height), cfg, capital=10_000.0, size=size, ppy=252.0
    )
    done = sim.fills.units > 0
    want = compute_all(
        stats=es.equity_stats(
            es.array_block(sim.curve.equity), md.n_times, 10_000.0, threshold=0.0
        ),
        initial=10_000.0,
        ppy=252.0,
        pnl=sim.pnl,
        trade_returns=sim.trade_returns,
        fees=sim.fills.fees[done],
        exposure=exposure(md, sim.fills),
        first_close=md.close[md.starts],
        last_close=md.close[md.ends - 1],
    )
    skip = ACCOUNT_KEYS | (EQUITY_KEYS if sim.metrics["ruined"] else set())
    want = {k: v for k, v in want.items() if k not in skip}
    got = {k: sim.metrics[k] for k in want}
    same(got, want)
