"""The executed legs' pnl and returns from ``grid_kernel.trade_pass`` are, bit for bit, the
numpy expressions ``simulate._metrics`` used for them (the reference below), its counts and
sums of the wins and losses numpy's, and ``trade_metrics.kelly_of`` on them is
``kelly_criterion`` on that pnl: random legs with unexecuted ones (0 or NaN units), NaN
prices, ties at zero pnl, only wins, only losses, none."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.engine.test_property import random_bars, random_signal
from worker.engine import grid_kernel as gk
from worker.engine.analysis import trade_values
from worker.engine.api import run_backtest
from worker.engine.market import MarketData
from worker.engine.params import RunConfig
from worker.engine.simulate import simulate
from worker.engine.trade_metrics import TradeSums, kelly_criterion, kelly_of


def legs(seed: int, m: int, *, nan: bool = False, ties: bool = False) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    units = rng.random(m) * 10
    units[rng.random(m) < 0.2] = 0.0
    if nan:
        units[rng.random(m) < 0.05] = np.nan
    pe = 100 * np.exp(rng.normal(0, 0.1, m))
    px = pe * np.exp(rng.normal(0, 0.02, m))
    fees = units * (pe + px) * 1e-4
    if ties:
        px[::3] = pe[::3]
        fees[::3] = 0.0
    if nan:
        px[rng.random(m) < 0.05] = np.nan
    entry = np.sort(rng.integers(0, 10 * m + 1, m)).astype(np.int64)
    return {
        "side": rng.choice(np.array([-1, 1], dtype=np.int8), m),
        "units": units,
        "pe": pe,
        "px": px,
        "fees": fees,
        "entry": entry,
        "exit_": entry + rng.integers(0, 20, m),
    }


def reference(leg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``simulate._metrics``' numpy before trade_pass took them."""
    take = leg["units"] > 0
    u, pe, px = leg["units"][take], leg["pe"][take], leg["px"][take]
    pnl = leg["side"][take] * u * (px - pe) - leg["fees"][take]
    return pnl, pnl / (u * pe)


def passed(leg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, TradeSums]:
    m = leg["units"].shape[0]
    out, pnl, ret = np.zeros(gk.SLOTS), np.empty(m), np.empty(m)
    gk.trade_pass(*leg.values(), out, pnl, ret)
    n = int(out[gk.TRADES])
    sums = TradeSums(
        n, int(out[gk.WINS]), int(out[gk.LOSSES]), out[gk.GROSS_WIN], out[gk.GROSS_LOSS]
    )
    return pnl[:n], ret[:n], sums


def same(a: float | None, b: float | None) -> None:
    assert (a is None and b is None) or (a is not None and b is not None and a == b), (a, b)


@pytest.mark.parametrize("m", [0, 1, 2, 7, 129, 1000, 20_000])
@pytest.mark.parametrize("nan", [False, True])
@pytest.mark.parametrize("ties", [False, True])
def test_pnl_returns_and_kelly(m: int, nan: bool, ties: bool) -> None:
    leg = legs(m, m, nan=nan, ties=ties)
    pnl, ret, sums = passed(leg)
    want_pnl, want_ret = reference(leg)
    assert pnl.tobytes() == want_pnl.tobytes()
    assert ret.tobytes() == want_ret.tobytes()
    same(kelly_of(sums), kelly_criterion(want_pnl))
    wins, losses = want_pnl[want_pnl > 0], want_pnl[want_pnl < 0]
    assert (sums.trades, sums.wins, sums.losses) == (want_pnl.size, wins.size, losses.size)
    assert (sums.gross_win, sums.gross_loss) == (float(wins.sum()), float(-losses.sum()))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_only_wins_or_only_losses(sign: float) -> None:
    leg = legs(3, 50)
    leg["px"] = leg["pe"] * (1.0 + sign * 0.05)
    leg["side"] = np.ones(50, dtype=np.int8)
    leg["fees"] = np.zeros(50)
    pnl, _, sums = passed(leg)
    assert kelly_of(sums) is None and kelly_criterion(pnl) is None


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("config", [{}, {"commission": 0.002, "units": "integer"}])
def test_a_simulation_and_its_analysis(seed: int, config: dict[str, Any]) -> None:
    bars = random_bars(seed, 1, 800, vol=0.1)
    md = MarketData.from_frame(bars)
    cfg = RunConfig.model_validate(config)
    sim = simulate(md, random_signal(seed, bars.height), cfg, capital=1e4, size=1.0, ppy=252.0)
    done = sim.fills.units > 0
    leg = sim.legs
    u, pe, px = sim.fills.units[done], leg.entry_price[done], leg.exit_price[done]
    want = leg.side[done] * u * (px - pe) - sim.fills.fees[done]
    assert sim.pnl.tobytes() == want.tobytes()
    assert sim.trade_returns.tobytes() == (want / (u * pe)).tobytes()
    res = run_backtest(
        bars, {"kind": "sma_crossover", "fast_period": 3, "slow_period": 9}, config,
        initial_capital=1e4, timeframe="1d",
    )  # fmt: skip
    assert res.metrics["kelly_criterion"] == trade_values(res.trades)["kelly_criterion"]
