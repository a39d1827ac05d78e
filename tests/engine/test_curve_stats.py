"""curve_stats' one pass equals, bit for bit, the two passes it replaced (kept as the
references): ``equity_curve``, ``equity_stats``, ``returns_from_equity`` and the equity
frame's ``exposure_drawdown``, on curves of several blocks, with and without the risk-free
threshold, a curve whose variance needs the second pass, and curves with inf, NaN, zeros and
negative equity."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from worker.engine.curve_kernels import exposure_drawdown
from worker.engine.curve_stats import curve_and_stats
from worker.engine.equity_stats import STATS_BLOCK, array_block, equity_stats
from worker.engine.market import MarketData
from worker.engine.params import parse_run_config
from worker.engine.portfolio import Curve, Fills, equity_curve
from worker.engine.return_metrics import returns_from_equity
from worker.engine.simulate import sized_fills
from worker.engine.synthetic import generate_bars

CAPITAL = 10_000.0


def market(n: int, seed: int) -> MarketData:
    return MarketData.from_frame(generate_bars(["X"], n, "1m", seed=seed))


def random_fills(md: MarketData, seed: int, config: dict[str, object]) -> Fills:
    rng = np.random.default_rng(seed)
    signal = np.repeat(rng.integers(-1, 2, md.n // 20 + 1), 20)[: md.n].astype(np.int8)
    return sized_fills(md, signal, parse_run_config(config), CAPITAL, 1.0)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def check(md: MarketData, fills: Fills, threshold: float) -> None:
    curve, stats, returns = curve_and_stats(md, fills, CAPITAL, threshold)
    want = equity_curve(md, fills, CAPITAL)
    assert same(curve.equity, want.equity) and same(curve.cash, want.cash)
    assert same(curve.position_value, want.position_value) and curve.gross is None
    n = md.n_times
    want_stats = equity_stats(array_block(want.equity), n, CAPITAL, threshold=threshold)
    assert repr(stats) == repr(want_stats)  # every field, NaN and inf included
    if curve.derived is None:  # built whole; else not kept (their mean is checked)
        assert returns is not None and same(returns, returns_from_equity(want.equity, CAPITAL))
    else:
        assert returns is None
    check_derived(curve, want)


def check_derived(curve: Curve, want: Curve) -> None:
    """The exposure and drawdown of the curve's pass are ``exposure_drawdown``'s, its
    returns' mean ``np.mean``'s; a curve not finite everywhere has none (the equity frame
    and the analysis compute them)."""
    n = want.equity.shape[0]
    exposure, drawdown = np.empty(n), np.empty(n)
    value = np.abs(want.position_value)
    whole, positive = exposure_drawdown(value, want.equity, CAPITAL, True, exposure, drawdown)
    if curve.derived is None:
        assert not (n and np.isfinite(want.equity).all())
        return
    assert whole and np.isfinite(want.equity).all()
    assert same(curve.derived.exposure, exposure) and same(curve.derived.drawdown, drawdown)
    assert curve.derived.positive == positive
    mean = float(returns_from_equity(want.equity, CAPITAL).mean())
    assert repr(curve.derived.returns_mean) == repr(mean)


@pytest.mark.parametrize("n", [1, 2, 129, 5_000, 2 * STATS_BLOCK + 17, 16 * STATS_BLOCK - 8])
@pytest.mark.parametrize("threshold", [0.0, 1e-7])
@pytest.mark.parametrize("config", [{"commission": 0.001}, {"fill": "close", "slippage_bps": 5}])
def test_curve_and_stats_equal_the_two_passes(
    n: int, threshold: float, config: dict[str, object]
) -> None:
    md = market(n, n)
    check(md, random_fills(md, n, config), threshold)


def test_flat_and_steadily_climbing_curves() -> None:
    md = market(3 * STATS_BLOCK, 1)
    check(md, random_fills(md, 1, {"direction": "long_only"}), 0.0)
    # a steady climb in cash: the one-pass variance is unsafe, so equity_stats sums ``dev``
    md = market(1_000, 2)
    fills = random_fills(md, 2, {})
    climb = CAPITAL * np.exp(np.arange(1, 2 * fills.legs.count + 1) * 1e-3)
    flat = replace(fills.legs, side=np.zeros_like(fills.legs.side))
    fills = replace(fills, legs=flat, ev_cash=climb, units=np.zeros_like(fills.units))
    assert curve_and_stats(md, fills, CAPITAL, 0.0)[1].dev is not None
    check(md, fills, 0.0)


@pytest.mark.parametrize("special", [np.inf, -np.inf, np.nan, 0.0, -0.0, -5.0])
def test_curves_not_finite_or_not_positive(special: float) -> None:
    md = market(2 * STATS_BLOCK + 5, 3)
    fills = random_fills(md, 3, {})
    cash = fills.ev_cash.copy()
    cash[cash.shape[0] // 2 :] = special
    check(md, replace(fills, ev_cash=cash), 0.0)
