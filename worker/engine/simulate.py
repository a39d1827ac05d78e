"""One simulation: target positions -> legs -> sized fills -> equity curve -> metrics.

Shared by single runs and grid runs so a grid's leaderboard numbers are exactly those of
the corresponding single run.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.engine import metrics as mx
from worker.engine.execution import Legs, build_legs
from worker.engine.market import F64, I8, MarketData
from worker.engine.params import RunConfig
from worker.engine.portfolio import (
    Curve,
    Fills,
    equity_curve,
    exposure,
    size_multi,
    size_single,
)


@dataclass(frozen=True, eq=False)
class Simulation:
    legs: Legs
    fills: Fills
    curve: Curve
    pnl: F64  # executed trades only
    trade_returns: F64
    peak_ratio: F64  # equity / running peak; drawdown = peak_ratio - 1
    metrics: dict[str, float | int | None]


def simulate(
    md: MarketData, signal: I8, cfg: RunConfig, *, capital: float, size: float, ppy: float
) -> Simulation:
    legs = build_legs(md, signal, cfg)
    if md.n_symbols == 1:
        fills = size_single(legs, cfg, capital, size)
    else:
        fills = size_multi(md, legs, cfg, capital, size)
    curve = equity_curve(md, fills, capital)
    done = fills.units > 0
    u = fills.units[done]
    pe, px = legs.entry_price[done], legs.exit_price[done]
    fees = fills.fees[done]
    pnl = legs.side[done] * u * (px - pe) - fees
    trade_returns = pnl / (u * pe)
    ratio = mx.peak_ratio(curve.equity, capital)
    values = mx.compute_all(
        equity=curve.equity,
        initial=capital,
        ppy=ppy,
        pnl=pnl,
        trade_returns=trade_returns,
        fees=fees,
        exposure=exposure(md, fills),
        first_close=md.close[md.starts],
        last_close=md.close[md.ends - 1],
        ratio=ratio,
    )
    return Simulation(legs, fills, curve, pnl, trade_returns, ratio, values)


def sorted_ok(md: MarketData) -> bool:
    """Rows strictly increasing in time within each symbol block."""
    if md.n < 2:
        return True
    step = md.ts[1:] > md.ts[:-1]
    step[md.starts[1:] - 1] = True
    return bool(step.all())
