"""A grid combination's compiled path: ``simulate_metrics_and_sums``'s numbers for the
common case in two compiled passes over the bars (grid_kernel.py), with no per-bar array
built in Python and no indicator array cached (the moving averages are cut from the
running sum inside the pass).

``combination`` returns None where the path does not apply, and the grid then takes
``simulate_metrics_and_sums``: another strategy than the SMA crossover, several symbols,
carry, a volume cap, maintenance margin, limit or stop entries, stops or targets, and a
curve that is not finite or reaches 0 (a liquidation decides it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from worker.engine import grid_kernel as gk
from worker.engine import indicators as ind
from worker.engine.annualisation import per_period_rate
from worker.engine.equity_stats import EquityStats
from worker.engine.grid_curve import curve_pass
from worker.engine.liquidation import account_metrics
from worker.engine.market import MarketData
from worker.engine.metrics import Metric
from worker.engine.overfitting import partition_bounds
from worker.engine.params import RunConfig
from worker.engine.period_sums import PeriodSums
from worker.engine.simulate import carried, carry_metrics, trade_pass_metrics
from worker.engine.strategies import Strategy
from worker.engine.strategies.crossover import SmaCrossover


def applies(md: MarketData, cfg: RunConfig, strategy: Strategy) -> bool:
    """Whether ``combination`` can take this run (module doc)."""
    return (
        type(strategy) is SmaCrossover
        and md.n_symbols == 1
        and md.n > 0
        and not carried(cfg)
        and cfg.max_volume_share is None
        and cfg.margin_maintenance is None
        and cfg.entry_order == "market"
        and cfg.stop_loss is None
        and cfg.take_profit is None
        and cfg.trailing_stop is None
        and cfg.trailing_atr is None
    )


class SizedLegs(NamedTuple):
    """The crossover's legs (rows of entry and exit, side, whether the data's end closed
    it), priced and sized: ``grid_kernel.sized_legs``' outputs."""

    entry: np.ndarray
    exit_: np.ndarray
    side: np.ndarray
    eod: np.ndarray
    entry_price: np.ndarray
    exit_price: np.ndarray
    units: np.ndarray
    fees: np.ndarray
    cash_in: np.ndarray
    cash_out: np.ndarray


def sized_crossover_legs(
    strategy: SmaCrossover,
    cfg: RunConfig,
    close: np.ndarray,
    open_: np.ndarray,
    running_sum: np.ndarray,
    *,
    capital: float,
    size: float,
) -> SizedLegs:
    """The SMA crossover's legs in one compiled pass over the running sum of the closes,
    priced (``open_`` is read only for next-open fills) and sized."""
    next_open = cfg.fill == "next_open"
    entry, exit_, side, eod = gk.crossover_legs(
        np.ascontiguousarray(running_sum),
        float(close[0]),
        strategy.fast_period,
        strategy.slow_period,
        cfg.direction == "long_only",
        next_open,
    )
    costs = np.array(
        [
            cfg.commission,
            cfg.commission_fixed,
            cfg.margin_initial,
            size,
            capital,
            1.0 if cfg.units == "integer" else 0.0,
            cfg.slippage,
        ]
    )
    priced = gk.sized_legs(open_, close, entry, exit_, side, eod, next_open, costs)
    return SizedLegs(entry, exit_, side, eod, *priced)


def combination(
    md: MarketData,
    strategy: Strategy,
    cfg: RunConfig,
    *,
    capital: float,
    size: float,
    ppy: float,
    partitions: int,
) -> tuple[dict[str, Metric], PeriodSums] | None:
    """``simulate_metrics_and_sums(md, strategy.signal(md), cfg, ...)``, or None where the
    compiled path does not apply."""
    if not applies(md, cfg, strategy):
        return None
    assert isinstance(strategy, SmaCrossover)
    close = np.ascontiguousarray(md.close)
    legs = sized_crossover_legs(
        strategy,
        cfg,
        close,
        np.ascontiguousarray(md.open),
        ind.running_sum(md),
        capital=capital,
        size=size,
    )
    entry, exit_, side, units = legs.entry, legs.exit_, legs.side, legs.units
    edges = partition_bounds(md.n_times, partitions)
    out = np.zeros(gk.SLOTS)
    s1 = np.zeros(partitions)
    s2 = np.zeros(partitions)
    rf = per_period_rate(cfg.risk_free_rate, ppy)
    status = curve_pass(
        close,
        entry,
        exit_,
        side,
        units,
        legs.cash_in,
        legs.cash_out,
        capital,
        edges,
        rf,
        out,
        s1,
        s2,
    )
    if status != gk.OK:
        return None
    pnl, ret = np.empty(units.shape[0]), np.empty(units.shape[0])
    gk.trade_pass(
        side, units, legs.entry_price, legs.exit_price, legs.fees, entry, exit_, out, pnl, ret
    )
    return _metrics(md, out, capital, ppy, rf), _sums(edges, out, s1, s2)


def _metrics(
    md: MarketData, out: np.ndarray, capital: float, ppy: float, rf: float
) -> dict[str, Metric]:
    v = out.tolist()
    stats = EquityStats(
        int(v[gk.BARS]),
        v[gk.FINAL],
        v[gk.TOTAL],
        v[gk.SQUARES],
        v[gk.DOWN],
        v[gk.MIN_RATIO],
        v[gk.MIN_EQUITY],
        int(v[gk.UNDERWATER]),
        v[gk.DEV] if v[gk.HAS_DEV] else None,
        rf,
    )
    values = trade_pass_metrics(md, out, stats, capital, ppy)
    values.update(account_metrics(md, None, capital, None, 0))
    values.update(carry_metrics(None))
    return values


def _sums(edges: np.ndarray, out: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> PeriodSums:
    powers = np.zeros((4, s1.shape[0]))
    powers[0], powers[1] = s1, s2
    powers[2, 0], powers[3, 0] = out[gk.S3], out[gk.S4]
    return PeriodSums(np.diff(edges), powers)
