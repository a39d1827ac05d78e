"""growth_sums' one pass equals, bit for bit, the three it replaced (kept as the
references): ``curve_kernels.scaled_growth``, ``return_metrics.returns_from_equity`` and
``np.mean`` of the returns; and the analysis given them equals the analysis without."""

from __future__ import annotations

import numpy as np
import pytest

from worker.engine import benchmark_metrics as bm
from worker.engine.analysis import analyse
from worker.engine.curve_kernels import scaled_growth
from worker.engine.frames import buy_and_hold_curve, buy_and_hold_paths
from worker.engine.growth_sums import FILL_SPAN, buy_and_hold_mean, buy_and_hold_returns
from worker.engine.market import MarketData
from worker.engine.return_metrics import returns_from_equity
from worker.engine.synthetic import generate_bars

CAPITAL = 10_000.0


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    "n", [1, 2, 7, 8, 9, 127, 128, 129, FILL_SPAN - 1, FILL_SPAN + 9, 65_536, 200_003]
)
def test_one_pass_equals_the_three(n: int) -> None:
    rng = np.random.default_rng(n)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    values, returns, mean = buy_and_hold_returns(close, CAPITAL)
    want = np.empty(n)
    scaled_growth(close, CAPITAL, want)
    want_returns = returns_from_equity(want, CAPITAL)
    assert same(values, want) and same(returns, want_returns)
    assert repr(mean) == repr(float(want_returns.mean()))
    values_only, mean_only = buy_and_hold_mean(close, CAPITAL)
    assert same(values_only, want) and repr(mean_only) == repr(mean)


def test_buy_and_hold_paths_curve_is_buy_and_hold_curve() -> None:
    md = MarketData.from_frame(generate_bars(["X"], 5_000, "1m", seed=3))
    curve, kept = buy_and_hold_paths(md, CAPITAL)
    assert kept is not None
    assert same(curve.to_numpy(), buy_and_hold_curve(md, CAPITAL).to_numpy())
    many = MarketData.from_frame(generate_bars(["X", "Y"], 500, "1m", seed=3))
    curve, kept = buy_and_hold_paths(many, CAPITAL)
    assert kept is None and same(curve.to_numpy(), buy_and_hold_curve(many, CAPITAL).to_numpy())


@pytest.mark.parametrize("rf", [0.0, 0.03])
def test_benchmark_stats_given_the_means(rf: float) -> None:
    rng = np.random.default_rng(7)
    r, b = rng.normal(0, 1e-3, 100_001), rng.normal(0, 1e-3, 100_001)
    got = bm.benchmark_stats(r, b, 98_280, rf, float(r.mean()), float(b.mean()))
    assert repr(got) == repr(bm.benchmark_stats(r, b, 98_280, rf))


def test_analysis_with_the_kept_returns_equals_the_analysis_without() -> None:
    from worker.engine import run_backtest

    bars = generate_bars(["X"], 20_000, "1m", seed=5)
    params = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 30}
    res = run_backtest(
        bars, params, {"commission": 0.0001}, initial_capital=CAPITAL, timeframe="1m"
    )
    assert res.benchmark is not None
    bench = res.benchmark.to_numpy()
    kept = buy_and_hold_paths(MarketData.from_frame(bars), CAPITAL)[1]
    args = (res.equity, res.trades, bench)
    with_kept = analyse(*args, initial=CAPITAL, ppy=98_280, benchmark_mean=kept)
    without = analyse(*args, initial=CAPITAL, ppy=98_280)
    assert repr(with_kept) == repr(without)
    own = float(returns_from_equity(res.equity["equity"].to_numpy(), CAPITAL).mean())
    both = analyse(*args, initial=CAPITAL, ppy=98_280, returns_mean=own, benchmark_mean=kept)
    assert repr(both) == repr(without)
