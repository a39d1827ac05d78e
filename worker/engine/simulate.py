"""One simulation: target positions -> legs -> sized fills -> equity curve -> margin calls
and ruin (liquidation.py) -> metrics.

Shared by single runs and grid runs so a grid's leaderboard numbers are exactly those of
the corresponding single run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from worker.engine import grid_kernel as gk
from worker.engine import metrics as mx
from worker.engine.annualisation import per_period_rate
from worker.engine.carry import CARRY_METRICS, Carry
from worker.engine.curve_stats import curve_and_stats
from worker.engine.equity_stats import EquityStats, array_block, equity_stats
from worker.engine.execution import Legs, build_legs
from worker.engine.liquidation import Sizer, account_metrics, can_breach, liquidate, wiped_path
from worker.engine.market import F64, I8, MarketData
from worker.engine.metrics import Metric
from worker.engine.multi_sizing import size_multi
from worker.engine.orders import EntryLevels
from worker.engine.params import RunConfig
from worker.engine.period_sums import PeriodSums, PeriodSumsRecorder
from worker.engine.portfolio import (
    Curve,
    Fills,
    equity_blocks,
    equity_curve,
    exposure,
    size_single,
)
from worker.engine.return_metrics import finite
from worker.engine.trade_metrics import TradeSums, trade_stats_of


@dataclass(frozen=True, eq=False)
class Simulation:
    legs: Legs
    fills: Fills
    curve: Curve
    pnl: F64  # executed trades only
    trade_returns: F64
    metrics: dict[str, Metric]
    capital: float
    #: ``returns_from_equity(curve.equity, capital)``, kept from the pass over the curve
    #: (None after a ruin: the analysis then stops the returns at the ruin bar).
    returns: F64 | None = None
    #: What ``trade_metrics.kelly_criterion`` takes of ``pnl``, when the metrics' pass
    #: summed it (one symbol).
    trade_sums: TradeSums | None = None


def _sizer(md: MarketData, cfg: RunConfig, capital: float, size: float) -> Sizer:
    carry = Carry.of(md, cfg)
    if md.n_symbols == 1 and carry is None and cfg.max_volume_share is None:
        return lambda legs: size_single(legs, cfg, capital, size)
    return lambda legs: size_multi(md, legs, cfg, capital, size, carry)


def carry_metrics(curve: Curve | None) -> dict[str, Metric]:
    """The carry metrics of ``curve`` (all 0 without a curve or without carry)."""
    paid = (0.0, 0.0, 0.0, 0.0) if curve is None or curve.carry_paid is None else curve.carry_paid
    return {name: finite(value) for name, value in zip(CARRY_METRICS, paid, strict=True)}


def carried(cfg: RunConfig) -> bool:
    """Whether carry is charged: its curve is built whole (simulate's path)."""
    return bool(cfg.cash_interest_rate or cfg.borrow_rate or cfg.funding_rate)


def sized_fills(
    md: MarketData,
    signal: I8,
    cfg: RunConfig,
    capital: float,
    size: float,
    levels: EntryLevels = (None, None),
) -> Fills:
    """Sized fills before any liquidation."""
    return _sizer(md, cfg, capital, size)(build_legs(md, signal, cfg, levels))


class TradePass(NamedTuple):
    """One symbol's ``grid_kernel.trade_pass`` over sized fills: the executed legs' pnl
    and returns, the pass's ``out`` slots and the trades' sums."""

    pnl: F64
    returns: F64
    out: F64
    sums: TradeSums


def trade_pass(fills: Fills) -> TradePass:
    """The trade pass of one symbol's fills (sorted in time, numpy's order); it reads no
    curve, so it can run beside the curve's pass (``api.simulate_run``)."""
    legs = fills.legs
    c = np.ascontiguousarray
    out = np.zeros(gk.SLOTS)
    m = fills.units.shape[0]
    pnl, ret = np.empty(m), np.empty(m)
    gk.trade_pass(
        c(legs.side), c(fills.units), c(legs.entry_price), c(legs.exit_price), c(fills.fees),
        c(legs.entry_row), c(legs.exit_t), out, pnl, ret,
    )  # fmt: skip
    v = out.tolist()
    n = int(v[gk.TRADES])
    sums = TradeSums(n, int(v[gk.WINS]), int(v[gk.LOSSES]), v[gk.GROSS_WIN], v[gk.GROSS_LOSS])
    return TradePass(pnl[:n], ret[:n], out, sums)


def _metrics(
    md: MarketData,
    fills: Fills,
    stats: EquityStats,
    capital: float,
    ppy: float,
    done: TradePass | None = None,
) -> tuple[F64, F64, dict[str, Metric], TradeSums | None]:
    """(the executed legs' pnl and returns, the metrics, the trades' sums when one pass
    took them); ``done``: one symbol's ``trade_pass`` of ``fills``, when already taken."""
    if md.n_symbols == 1:
        tp = trade_pass(fills) if done is None else done
        values = trade_pass_metrics(md, tp.out, stats, capital, ppy)
        return tp.pnl, tp.returns, values, tp.sums
    legs = fills.legs
    executed = fills.units > 0
    take = slice(None) if executed.all() else executed  # a slice keeps the columns views
    u = fills.units[take]
    pe, px = legs.entry_price[take], legs.exit_price[take]
    fees = fills.fees[take]
    pnl = legs.side[take] * u * (px - pe) - fees
    trade_returns = pnl / (u * pe)
    values = mx.compute_all(
        stats=stats,
        initial=capital,
        ppy=ppy,
        pnl=pnl,
        trade_returns=trade_returns,
        fees=fees,
        exposure=exposure(md, fills),
        first_close=md.close[md.starts],
        last_close=md.close[md.ends - 1],
    )
    return pnl, trade_returns, values, None


def trade_pass_metrics(
    md: MarketData, out: F64, stats: EquityStats, capital: float, ppy: float
) -> dict[str, Metric]:
    """``compute_all`` from the curve's statistics and ``grid_kernel.trade_pass``'s
    ``out`` (one symbol)."""
    v = out.tolist()
    n = int(v[gk.TRADES])
    trades = trade_stats_of(
        n,
        int(v[gk.WINS]),
        v[gk.GROSS_WIN],
        v[gk.GROSS_LOSS],
        v[gk.PNL_SUM],
        v[gk.RETURN_SUM],
        v[gk.BEST] if n else None,
        v[gk.WORST] if n else None,
    )
    t_n = md.n_times
    return mx.assemble(
        stats,
        initial=capital,
        ppy=ppy,
        trades=trades,
        commissions=v[gk.FEES],
        exposure=(int(v[gk.COVERED]) / t_n if n else 0.0) if t_n else None,
        buy_and_hold=mx.buy_and_hold_return(md.close[md.starts], md.close[md.ends - 1]),
    )


def simulate(
    md: MarketData,
    signal: I8 | None,
    cfg: RunConfig,
    *,
    capital: float,
    size: float,
    ppy: float,
    levels: EntryLevels = (None, None),
    fills: Fills | None = None,
    traded: Callable[[], TradePass] | None = None,
) -> Simulation:
    """``levels``: the strategy's entry-order levels (``Strategy.entry_levels``).
    ``fills``: the sized fills of the signal, when they were built without it
    (``crossover_fills``); ``signal`` is then not read. ``traded``: gives one symbol's
    ``trade_pass(fills)`` (taken beside the curve's pass), read only when no liquidation
    changed the fills."""
    sizer = _sizer(md, cfg, capital, size)
    if fills is None:
        assert signal is not None
        fills = sizer(build_legs(md, signal, cfg, levels))
    sized = fills
    ruin_t, calls = None, 0
    rf = per_period_rate(cfg.risk_free_rate, ppy)
    returns: F64 | None
    if md.n_symbols == 1 and fills.posts is None:
        curve, stats, returns = curve_and_stats(md, fills, capital, rf)
    else:
        curve = equity_curve(md, fills, capital)
        returns = np.empty(curve.equity.shape[0])
        block = array_block(curve.equity)
        stats = equity_stats(block, returns.shape[0], capital, threshold=rf, returns=returns)
    bars = int(curve.equity.shape[0])
    if can_breach(stats.min_equity, cfg):  # the curve's lowest bar (inf without bars)
        done = liquidate(md, fills, curve, cfg, capital, sizer)
        fills, curve, ruin_t, calls = done.fills, done.curve, done.ruin_t, done.margin_calls
        equity = curve.equity
        if ruin_t is None:
            block = array_block(equity)
            stats = equity_stats(block, bars, capital, threshold=rf, returns=returns)
        else:
            returns = None
            wiped = array_block(wiped_path(equity, ruin_t))
            stats = equity_stats(wiped, ruin_t + 1, capital, threshold=rf)
    equity = curve.equity
    passed = traded() if traded is not None and fills is sized else None
    pnl, trade_returns, values, sums = _metrics(md, fills, stats, capital, ppy, passed)
    values.update(account_metrics(md, equity, capital, ruin_t, calls))
    values.update(carry_metrics(curve))
    return Simulation(fills.legs, fills, curve, pnl, trade_returns, values, capital, returns, sums)


def simulate_metrics(
    md: MarketData,
    signal: I8,
    cfg: RunConfig,
    *,
    capital: float,
    size: float,
    ppy: float,
    levels: EntryLevels = (None, None),
) -> dict[str, Metric]:
    """``simulate(...).metrics`` without the frames: the equity curve is produced and
    consumed block by block (see ``equity_stats.equity_stats``), never whole. A run that may
    need a liquidation (its equity reached 0, or margin_maintenance is set) takes the exact
    path of ``simulate``, as does a run with carry. The numbers are exactly those of
    ``simulate``."""
    if carried(cfg):
        return simulate(md, signal, cfg, capital=capital, size=size, ppy=ppy, levels=levels).metrics
    fills = sized_fills(md, signal, cfg, capital, size, levels)
    rf = per_period_rate(cfg.risk_free_rate, ppy)
    stats = equity_stats(equity_blocks(md, fills, capital), md.n_times, capital, threshold=rf)
    if can_breach(stats.min_equity, cfg):
        return simulate(md, signal, cfg, capital=capital, size=size, ppy=ppy, levels=levels).metrics
    values = _metrics(md, fills, stats, capital, ppy)[2]
    values.update(account_metrics(md, None, capital, None, 0))
    values.update(carry_metrics(None))
    return values


def simulate_metrics_and_sums(
    md: MarketData,
    signal: I8,
    cfg: RunConfig,
    *,
    capital: float,
    size: float,
    ppy: float,
    partitions: int,
    levels: EntryLevels = (None, None),
) -> tuple[dict[str, Metric], PeriodSums]:
    """``simulate_metrics`` plus the returns' per-partition power sums (for the grid's
    overfitting statistics), gathered in the same pass over the curve. A run that may need
    a liquidation (or with carry) takes the exact path; its sums are those of the
    liquidated curve."""

    def exact() -> tuple[dict[str, Metric], PeriodSums]:
        sim = simulate(md, signal, cfg, capital=capital, size=size, ppy=ppy, levels=levels)
        recorder = PeriodSumsRecorder(md.n_times, partitions)
        equity_stats(array_block(sim.curve.equity), md.n_times, capital, recorder)
        return sim.metrics, recorder.sums()

    if carried(cfg):
        return exact()
    fills = sized_fills(md, signal, cfg, capital, size, levels)
    recorder = PeriodSumsRecorder(md.n_times, partitions)
    rf = per_period_rate(cfg.risk_free_rate, ppy)
    blocks = equity_blocks(md, fills, capital)
    stats = equity_stats(blocks, md.n_times, capital, recorder, threshold=rf)
    if can_breach(stats.min_equity, cfg):
        return exact()
    values = _metrics(md, fills, stats, capital, ppy)[2]
    values.update(account_metrics(md, None, capital, None, 0))
    values.update(carry_metrics(None))
    return values, recorder.sums()
