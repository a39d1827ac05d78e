from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.engine.conftest import flat_bars
from worker.engine import drawdowns as dd_mod
from worker.engine import metrics as mx
from worker.engine import return_metrics as rm
from worker.engine import trade_metrics as tm
from worker.engine.api import run_backtest

# empyrical's "mixed_returns" fixture and its expected values (daily, 252 periods/year)
MIXED = np.array([np.nan, 1.0, 10.0, -4.0, 2.0, 3.0, 2.0, 1.0, -10.0]) / 100


def test_empyrical_golden_values() -> None:
    assert rm.sharpe_ratio(MIXED, 252) == pytest.approx(1.72386, abs=5e-6)
    assert rm.sortino_ratio(MIXED, 252) == pytest.approx(2.60553, abs=5e-6)
    assert rm.annual_return(MIXED, 252) == pytest.approx(1.91359, abs=5e-6)
    assert rm.annual_volatility(MIXED, 252) == pytest.approx(0.913647, abs=5e-6)
    assert rm.max_drawdown(MIXED) == pytest.approx(-0.10, abs=5e-6)
    assert rm.calmar_ratio(MIXED, 252) == pytest.approx(19.1359, abs=5e-5)


def test_compute_all_agrees_with_single_functions() -> None:
    rng = np.random.default_rng(7)
    r = rng.normal(0.0005, 0.01, 500)
    equity = 1000 * np.cumprod(1 + r)
    out = mx.compute_all(
        equity=equity,
        initial=1000.0,
        ppy=252.0,
        pnl=np.array([1.0]),
        trade_returns=np.array([0.1]),
        fees=np.zeros(1),
        exposure=1.0,
        first_close=np.array([1.0]),
        last_close=np.array([2.0]),
    )
    assert out["sharpe_ratio"] == pytest.approx(rm.sharpe_ratio(r, 252), rel=1e-9)
    assert out["sortino_ratio"] == pytest.approx(rm.sortino_ratio(r, 252), rel=1e-9)
    assert out["volatility"] == pytest.approx(rm.annual_volatility(r, 252), rel=1e-9)
    assert out["cagr"] == pytest.approx(rm.annual_return(r, 252), rel=1e-9)
    assert out["max_drawdown"] == pytest.approx(rm.max_drawdown(r), rel=1e-9)
    assert out["calmar_ratio"] == pytest.approx(rm.calmar_ratio(r, 252), rel=1e-9)
    assert out["buy_and_hold_return"] == 1.0
    assert set(out) == set(mx.METRIC_NAMES)


def test_trade_stats_hand_computed() -> None:
    pnl = np.array([10.0, -5.0, 0.0, 20.0])
    rets = np.array([0.1, -0.05, 0.0, 0.2])
    s = tm.trade_stats(pnl, rets)
    assert s["total_trades"] == 4
    assert s["winning_trades"] == 2
    assert s["losing_trades"] == 2  # a zero-pnl trade is not a win
    assert s["win_rate"] == 0.5
    assert s["profit_factor"] == 6.0
    assert s["expectancy"] == 6.25
    assert s["avg_trade_return"] == pytest.approx(0.0625)
    assert s["best_trade_return"] == 0.2
    assert s["worst_trade_return"] == -0.05


def test_undefined_metrics_are_none() -> None:
    s = tm.trade_stats(np.array([]), np.array([]))
    assert s["win_rate"] is None and s["profit_factor"] is None and s["expectancy"] is None
    assert tm.trade_stats(np.array([3.0]), np.array([0.1]))["profit_factor"] is None
    flat = np.zeros(10)
    assert rm.sharpe_ratio(flat, 252) is None
    assert rm.sortino_ratio(flat, 252) is None
    assert rm.calmar_ratio(flat, 252) is None
    assert rm.max_drawdown(flat) == 0.0
    assert rm.sharpe_ratio(np.array([0.01]), 252) is None
    assert rm.finite(float("nan")) is None and rm.finite(float("inf")) is None


def test_flat_run_has_json_safe_metrics() -> None:
    bars = flat_bars([10, 10, 10, 10], [10, 10, 10, 10])
    res = run_backtest(
        bars,
        {"kind": "sma_crossover", "fast_period": 1, "slow_period": 2},
        {},
        initial_capital=1000,
        timeframe="1d",
    )
    m = res.metrics
    assert m["total_trades"] == 0
    for key in ("sharpe_ratio", "sortino_ratio", "calmar_ratio", "profit_factor", "win_rate"):
        assert m[key] is None, key
    assert m["max_drawdown"] == 0.0 and m["total_return"] == 0.0
    text = json.dumps(m, allow_nan=False)
    assert "NaN" not in text
    assert all(v is None or math.isfinite(v) for v in m.values())


def test_drawdown_duration_and_exposure() -> None:
    dd = np.array([0, -0.1, -0.2, 0, -0.1, 0, -0.05, -0.05, -0.05])
    assert dd_mod.max_drawdown_duration(dd) == 3
    bars = flat_bars([10, 10, 10, 10, 10], [10, 10, 10, 10, 10])
    res = run_backtest(bars, {"kind": "buy_and_hold"}, {}, initial_capital=1000, timeframe="1d")
    assert res.metrics["exposure"] == pytest.approx(4 / 5)  # in the market from bar 1 on
    assert res.metrics["bars"] == 5
    assert res.metrics["periods_per_year"] == 252.0


def test_buy_and_hold_metric_matches_buy_and_hold_strategy() -> None:
    bars = flat_bars([10, 10, 11, 12], [10, 10.5, 11.5, 12])
    res = run_backtest(
        bars,
        {"kind": "buy_and_hold"},
        {"fill": "close", "units": "fractional"},
        initial_capital=1000,
        timeframe="1d",
    )
    assert res.metrics["buy_and_hold_return"] == pytest.approx(0.2)
    assert res.metrics["total_return"] == pytest.approx(0.2)
    assert res.metrics["cagr"] == pytest.approx(1.2 ** (252 / 4) - 1)


@pytest.mark.parametrize("drift", [-0.0002, 0.0, 0.0002])
def test_blockwise_peak_ratio_equals_the_running_max(drift: float) -> None:
    rng = np.random.default_rng(11)
    n = 3 * dd_mod.PEAK_BLOCK + 77
    equity = 100.0 * np.exp(np.cumsum(rng.normal(drift, 0.002, n)))
    for initial in (50.0, 100.0, 1e9):
        peak = np.maximum(np.maximum.accumulate(equity), initial)
        assert np.array_equal(dd_mod.peak_ratio(equity, initial), equity / peak)
    k = dd_mod.PEAK_BLOCK + 5
    gap = equity.copy()
    gap[k] = np.nan  # NaN propagates through the scanned peak
    got = dd_mod.peak_ratio(gap, 100.0)
    head = equity[:k]
    assert np.array_equal(got[:k], head / np.maximum(np.maximum.accumulate(head), 100.0))
    assert np.isnan(got[k:]).all()
    assert dd_mod.peak_ratio(np.empty(0), 1.0).shape == (0,)
