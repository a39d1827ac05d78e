"""The compiled multi-symbol sizing loop gives bit for bit the Python reference's fills, and
the compiled curve the numpy one."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from tests.engine.sizing_reference import size_multi_reference
from worker.engine.bars import canonicalize
from worker.engine.carry import Carry
from worker.engine.execution import build_legs
from worker.engine.frames import buy_and_hold_curve
from worker.engine.market import MarketData
from worker.engine.multi_sizing import size_multi
from worker.engine.params import RunConfig
from worker.engine.portfolio import Fills, _values
from worker.engine.simulate import simulate
from worker.engine.synthetic import generate_bars

DAY = {"fill": "close", "units": "fractional"}


def market(symbols: int, bars: int, gaps: float, seed: int) -> MarketData:
    """Daily bars over two years, each row dropped with probability ``gaps``."""
    frame = generate_bars([f"S{i}" for i in range(symbols)], bars, "1d", seed=seed)
    if gaps:
        keep = np.random.default_rng(seed).random(frame.height) >= gaps
        frame = canonicalize(frame.filter(pl.Series(keep)))
    return MarketData.from_frame(frame)


def signal(md: MarketData, seed: int, short: bool = True) -> np.ndarray[Any, np.dtype[np.int8]]:
    """Runs of -1/0/1 targets (reversals included) of random lengths."""
    rng = np.random.default_rng(seed)
    runs = rng.integers(1, 12, size=md.n)
    values = rng.choice([-1, 0, 1] if short else [0, 1], size=md.n).astype(np.int8)
    return np.repeat(values, runs)[: md.n]


def same(a: Fills, b: Fills) -> None:
    for name in ("units", "fees", "ev_t", "ev_cash"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape, name
        assert np.array_equal(x, y), name  # bit for bit: no tolerance
    assert (a.posts is None) == (b.posts is None)
    if a.posts is not None and b.posts is not None:
        assert a.posts.month_t == b.posts.month_t
        assert a.posts.month_cash == b.posts.month_cash
        assert a.posts.fill_e == b.posts.fill_e


ALL_CARRY = {
    **DAY,
    "margin_initial": 0.5,
    "cash_interest_rate": 0.1,
    "borrow_rate": 0.04,
    "funding_rate": 0.02,
    "max_volume_share": 0.001,
}
CASES: dict[str, tuple[dict[str, Any], float, float]] = {
    # name: (config, position size, share of rows dropped)
    "default": ({}, 0.25, 0.0),
    "fractional close": (DAY, 0.25, 0.0),
    "gaps": (DAY, 0.25, 0.2),
    "gaps next open": ({"units": "fractional"}, 0.25, 0.3),
    "integer units": ({"units": "integer"}, 0.25, 0.1),
    "commission": ({**DAY, "commission": 0.002}, 0.25, 0.0),
    "fixed commission": ({**DAY, "commission": 0.001, "commission_fixed": 2.0}, 0.25, 0.1),
    "integer fixed": ({"units": "integer", "commission_fixed": 1.0}, 0.3, 0.0),
    "capped at buying power": (DAY, 0.9, 0.0),
    "capped with commission": ({**DAY, "commission": 0.01}, 1.0, 0.1),
    "margin": ({**DAY, "margin_initial": 0.5}, 0.5, 0.0),
    "margin capped": ({**DAY, "margin_initial": 0.25, "commission": 0.001}, 1.5, 0.1),
    "volume cap": ({**DAY, "max_volume_share": 0.0001}, 0.5, 0.0),
    "volume cap integer": ({"units": "integer", "max_volume_share": 0.00005}, 0.5, 0.1),
    "long only": ({**DAY, "direction": "long_only"}, 0.4, 0.0),
    "slippage": ({**DAY, "slippage_bps": 5.0, "commission": 0.0005}, 0.25, 0.1),
    "stops": ({**DAY, "stop_loss": 0.02, "take_profit": 0.03}, 0.3, 0.0),
    "interest": ({**DAY, "margin_initial": 0.5, "cash_interest_rate": 0.08}, 0.6, 0.0),
    "borrow": ({**DAY, "borrow_rate": 0.05}, 0.3, 0.1),
    "funding": ({**DAY, "funding_rate": -0.03, "commission": 0.001}, 0.3, 0.0),
    "all carry": (ALL_CARRY, 0.7, 0.2),
    "carry integer next open": ({"units": "integer", "borrow_rate": 0.05}, 0.3, 0.2),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("symbols", [1, 3, 8])
def test_kernel_fills_are_the_python_loops(name: str, symbols: int) -> None:
    config, size, gaps = CASES[name]
    cfg = RunConfig.model_validate(config)
    seed = len(name) * 7 + symbols
    md = market(symbols, 500, gaps, seed)
    legs = build_legs(md, signal(md, seed, cfg.direction == "long_short"), cfg, (None, None))
    carry = Carry.of(md, cfg)
    fast = size_multi(md, legs, cfg, 10_000.0, size, carry)
    same(size_multi_reference(md, legs, cfg, 10_000.0, size, carry), fast)
    assert (fast.units > 0).any()


def test_no_legs() -> None:
    md = market(2, 50, 0.0, 1)
    cfg = RunConfig.model_validate({**DAY, "borrow_rate": 0.05})
    legs = build_legs(md, np.zeros(md.n, dtype=np.int8), cfg, (None, None))
    carry = Carry.of(md, cfg)
    fast = size_multi(md, legs, cfg, 1000.0, 0.5, carry)
    same(size_multi_reference(md, legs, cfg, 1000.0, 0.5, carry), fast)
    assert fast.units.shape == (0,)


def test_a_wiped_account_stops_sizing_as_the_loop_does() -> None:
    # 4x leverage and heavy fixed fees: equity goes to 0 and below, entries get no unit
    md = market(3, 300, 0.1, 5)
    cfg = RunConfig.model_validate({**DAY, "margin_initial": 0.25, "commission_fixed": 400.0})
    legs = build_legs(md, signal(md, 5), cfg, (None, None))
    fast = size_multi(md, legs, cfg, 1000.0, 4.0)
    same(size_multi_reference(md, legs, cfg, 1000.0, 4.0), fast)
    assert (fast.units == 0).any()


@pytest.mark.parametrize("symbols", [2, 4, 9, 17])
@pytest.mark.parametrize("gaps", [0.0, 0.25])
def test_curve_of_several_symbols_is_numpys(symbols: int, gaps: float) -> None:
    """The compiled per-bar sums are numpy's ``sum(axis=1)`` of units x last close."""
    md = market(symbols, 400, gaps, 11 + symbols)
    cfg = RunConfig.model_validate({**DAY, "margin_initial": 0.5, "borrow_rate": 0.05})
    res = simulate(md, signal(md, 11), cfg, capital=10_000.0, size=0.5, ppy=252.0)
    legs, units = res.fills.legs, res.fills.units
    held = np.zeros((md.n_times, md.n_symbols))
    for k in np.flatnonzero(units > 0):  # legs: by symbol, then entry
        t_in = md.t_idx[legs.entry_row[k]]
        held[t_in : legs.exit_t[k], legs.sym[k]] = legs.side[k] * units[k]
    value_w = held * md.marks[0]
    value, gross, short = _values(md, res.fills)
    assert np.array_equal(value, value_w.sum(axis=1))
    assert np.array_equal(gross, np.abs(value_w).sum(axis=1))
    assert np.array_equal(short, np.maximum(-value_w, 0.0).sum(axis=1))
    assert (short > 0).any() and (value > 0).any()
    assert np.array_equal(res.curve.position_value, value)


@pytest.mark.parametrize("symbols", [2, 7, 8, 19])
def test_buy_and_hold_of_several_symbols_is_numpys(symbols: int) -> None:
    md = market(symbols, 300, 0.3, 3 + symbols)
    close_w = md.marks[0]
    first = md.close[md.starts]
    growth = np.divide(close_w, first, out=np.ones_like(close_w), where=close_w > 0)
    assert (growth == 1.0).any()  # gaps before some symbol's first bar
    expected = 1234.5 * growth.mean(axis=1)
    assert np.array_equal(buy_and_hold_curve(md, 1234.5).to_numpy(), expected)
